//! Property tests: whatever bytes reach an ICMP socket, the matcher never panics, never
//! matches something that is not an answer to one of its requests, and a real reply still
//! matches afterwards.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use cpra::probe::icmp::{Pinger, SocketKind, checksum};
use proptest::prelude::*;

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn any_kind() -> impl Strategy<Value = SocketKind> {
    prop_oneof![Just(SocketKind::Raw), Just(SocketKind::Dgram)]
}

fn reply_for(req: &[u8], v6: bool) -> Vec<u8> {
    let mut r = req.to_vec();
    r[0] = if v6 { 129 } else { 0 };
    if !v6 {
        r[2..4].copy_from_slice(&[0, 0]);
        let s = checksum(&r);
        r[2..4].copy_from_slice(&s.to_be_bytes());
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_match(
        v6 in any::<bool>(),
        kind in any_kind(),
        id in any::<u16>(),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8),
        from in any_ip(),
    ) {
        let t0 = Instant::now();
        let dest = if v6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) };
        let mut p = Pinger::new(v6, kind, id, 0x5eed);
        let mut req = Vec::new();
        let seq = p.encode_echo(&mut req, 9, dest, t0).expect("room");
        for pkt in &packets {
            // Random bytes cannot carry the 64-bit cookie and serial by chance in practice.
            prop_assert_eq!(p.on_packet(pkt, from, t0), None);
            prop_assert_eq!(p.on_packet(pkt, dest, t0), None);
        }
        let mut reply = reply_for(&req, v6);
        if !v6 && kind == SocketKind::Raw {
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
            ip.extend_from_slice(&reply);
            reply = ip;
        }
        let r = p.on_packet(&reply, dest, t0 + Duration::from_millis(1));
        prop_assert_eq!(r.map(|r| (r.token, r.seq)), Some((9, seq)));
    }

    #[test]
    fn mutated_replies_never_panic(
        v6 in any::<bool>(),
        kind in any_kind(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        from in any_ip(),
    ) {
        let t0 = Instant::now();
        let dest = if v6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) };
        let mut p = Pinger::new(v6, kind, 7, 0x5eed);
        let mut req = Vec::new();
        p.encode_echo(&mut req, 1, dest, t0).expect("room");
        let mut pkt = reply_for(&req, v6);
        if !v6 && kind == SocketKind::Raw {
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
            ip.extend_from_slice(&pkt);
            pkt = ip;
        }
        for (at, x) in flips {
            let i = at % pkt.len();
            pkt[i] ^= x;
        }
        pkt.truncate(cut % (pkt.len() + 1));
        // May or may not match (a flip can hit a byte nobody checks); must not panic, and a
        // match is only ever our token.
        if let Some(r) = p.on_packet(&pkt, from, t0) {
            prop_assert_eq!(r.token, 1);
            prop_assert_eq!(from, dest);
        }
    }
}
