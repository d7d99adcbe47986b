/**
 * Lists exported declarations without a TSDoc comment in the packages'
 * sources (`packages/*\/src/**\/*.ts`). Used by a test; also runnable:
 * `npx tsx tools/check-tsdoc.ts`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

function walk(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function hasDoc(node: ts.Node): boolean {
  return ts.getJSDocCommentsAndTags(node).length > 0;
}

function exported(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** Every exported declaration lacking TSDoc, as `file:line name`. */
export function undocumentedExports(root: string): string[] {
  const missing: string[] = [];
  const pkgs = join(root, 'packages');
  for (const pkg of readdirSync(pkgs)) {
    const src = join(pkgs, pkg, 'src');
    try {
      statSync(src);
    } catch {
      continue;
    }
    for (const file of walk(src)) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
      // Overloads: one comment on any signature documents them all.
      const docFns = new Set(
        sf.statements.filter((st) => ts.isFunctionDeclaration(st) && st.name && hasDoc(st)).map((st) => (st as ts.FunctionDeclaration).name!.text),
      );
      for (const st of sf.statements) {
        if (!exported(st)) continue;
        let names: string[] = [];
        if (ts.isVariableStatement(st)) names = st.declarationList.declarations.map((d) => d.name.getText(sf));
        else if ('name' in st && st.name) names = [(st.name as ts.Node).getText(sf)];
        else continue;
        const ok =
          hasDoc(st) ||
          (ts.isFunctionDeclaration(st) && st.name !== undefined && docFns.has(st.name.text)) || (ts.isVariableStatement(st) && st.declarationList.declarations.every(hasDoc));
        if (!ok) {
          const line = sf.getLineAndCharacterOfPosition(st.getStart(sf)).line + 1;
          missing.push(`${relative(root, file)}:${line} ${names.join(', ')}`);
        }
      }
    }
  }
  return missing;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const m = undocumentedExports(process.cwd());
  for (const x of m) console.log(x);
  console.log(`${m.length} exported declarations without TSDoc`);
}
