#!/bin/bash
# Build a 3-namespace topology A <-> R <-> B, capture real packets.
set -x
S=$$
A=wirefixA-$S; R=wirefixR-$S; B=wirefixB-$S; L=wirefixL-$S
for n in $A $R $B $L; do ip netns add $n; ip -n $n link set lo up; done
ip link add wfa0 netns $A type veth peer name wfr0 netns $R
ip link add wfr1 netns $R type veth peer name wfb0 netns $B
ip -n $A addr add 10.77.0.1/24 dev wfa0; ip -n $A link set wfa0 up
ip -n $R addr add 10.77.0.2/24 dev wfr0; ip -n $R link set wfr0 up
ip -n $R addr add 10.77.1.1/24 dev wfr1; ip -n $R link set wfr1 mtu 1000 up
ip -n $B addr add 10.77.1.2/24 dev wfb0; ip -n $B link set wfb0 mtu 1000 up
ip -n $A route add default via 10.77.0.2
ip -n $B route add default via 10.77.1.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
# VLAN on A side
ip -n $A link add link wfa0 name wfa0.10 type vlan id 10
ip -n $R link add link wfr0 name wfr0.10 type vlan id 10
ip -n $A addr add 10.77.10.1/24 dev wfa0.10; ip -n $A link set wfa0.10 up
ip -n $R addr add 10.77.10.2/24 dev wfr0.10; ip -n $R link set wfr0.10 up

ip netns exec $A tcpdump -i wfa0 -U -w /tmp/wirefix/veth.pcap -s 0 2>/dev/null & P1=$!
ip netns exec $L tcpdump -i lo -U -w /tmp/wirefix/lo.pcap -s 0 2>/dev/null & P2=$!
sleep 1
# ARP + echo across veth
ip netns exec $A ping -c1 -W1 10.77.0.2
# fragmented echo (3000 bytes over 1500 mtu)
ip netns exec $A ping -c1 -W1 -s 3000 10.77.0.2
# frag needed: DF, 1400 bytes through R to B (next hop mtu 1000)
ip netns exec $A ping -c1 -W1 -M do -s 1400 10.77.1.2
# time exceeded: ttl 1 through R
ip netns exec $A ping -c1 -W1 -t 1 10.77.1.2
# vlan tagged ping
ip netns exec $A ping -c1 -W1 10.77.10.2
# record route option
ip netns exec $A ping -c1 -W1 -R 10.77.1.2
# loopback: ping, udp to listening + closed port, tcp exchange
ip netns exec $L ping -c1 -W1 127.0.0.1
ip netns exec $L python3 - <<'PY'
import socket, threading, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 5353))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b'hello rumpnet', ('127.0.0.1', 5353)); print(u.recvfrom(100))
c.sendto(b'odd', ('127.0.0.1', 5353)); print(u.recvfrom(100))
c.sendto(b'', ('127.0.0.1', 5353)); print(u.recvfrom(100))
c.sendto(b'to a closed port', ('127.0.0.1', 9))
time.sleep(0.2)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 8080)); s.listen()
def srv():
    a, _ = s.accept(); d = a.recv(100); a.sendall(b'HTTP/1.0 200 OK\r\n\r\nhi'); a.close()
t = threading.Thread(target=srv); t.start()
k = socket.create_connection(('127.0.0.1', 8080)); k.sendall(b'GET / HTTP/1.0\r\n\r\n'); print(k.recv(100)); time.sleep(0.1); k.close(); t.join()
# connection refused -> RST
try: socket.create_connection(('127.0.0.1', 8081))
except Exception as e: print(e)
PY
sleep 1
kill $P1 $P2; wait $P1 $P2
for n in $A $R $B $L; do ip netns del $n; done
ip netns list
