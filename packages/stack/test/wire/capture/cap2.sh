#!/bin/bash
set -x
S=$$; A=wirefixTA-$S; B=wirefixTB-$S
for n in $A $B; do ip netns add $n; ip -n $n link set lo up; done
ip -n $A tuntap add mode tap name wfta; ip -n $B tuntap add mode tap name wftb
ip -n $A addr add 10.78.0.1/24 dev wfta; ip -n $A link set wfta up
ip -n $B addr add 10.78.0.2/24 dev wftb; ip -n $B link set wftb up
ip netns exec $A sysctl -qw net.ipv4.tcp_ecn=1
ip netns exec $B sysctl -qw net.ipv4.tcp_ecn=1
python3 /tmp/wirefix/tapwire.py $A $B wfta wftb 12 & W=$!
sleep 0.5
ip netns exec $B tcpdump -i wftb -U -w /tmp/wirefix/tap2.pcap -s 0 2>/dev/null & P=$!
sleep 1
ip netns exec $A ping -c1 -W1 10.78.0.2
ip netns exec $A ping -c1 -W1 -p 564c414e4d45 10.78.0.2
ip netns exec $B python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('10.78.0.2',7000)); s.listen()
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(('10.78.0.2',7001))
print(u.recvfrom(100)); print(u.recvfrom(100)); print(u.recvfrom(100))
a,_=s.accept(); n=0
a.settimeout(5)
while True:
    d=a.recv(10000)
    if not d: break
    n+=len(d)
print('tcp got',n); a.close()
" & SRV=$!
sleep 0.5
ip netns exec $A python3 -c "
import socket,time
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
u.sendto(b'hello rumpnet', ('10.78.0.2',7001))
u.sendto(b'odd', ('10.78.0.2',7001))
u.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK: send with UDP checksum 0
u.sendto(b'no checksum', ('10.78.0.2',7001))
time.sleep(0.1)
c=socket.create_connection(('10.78.0.2',7000)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,1)
for i in range(1,10):
    c.send(b'SEG%d' % i + b'.'*96); time.sleep(0.05)
time.sleep(1.5); c.close()
"
wait $SRV
sleep 0.5
kill $P; wait $P; wait $W
for n in $A $B; do ip netns del $n; done
ip netns list
