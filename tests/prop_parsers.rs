//! Property tests of the two byte parsers a target talks to: the HTTP response judge
//! (`probe::http::Exchange`) and the DNS reply judge (`probe::dns::DnsCheck`).
//!
//! Whatever bytes arrive, and however they are cut into reads, neither panics, neither holds
//! more than its limit, and the verdict does not depend on where the reads were cut. Inputs are
//! both raw bytes and near-valid messages (plausible pieces glued together, or real replies
//! with bytes changed), so that the deep paths are reached, not only the first check.

use cpra::config::model::{DnsPulse, DnsRecordType};
use cpra::config::{Format, LoadOptions, load_bytes};
use cpra::limits::{DNS_DETAIL_BYTES_MAX, DNS_TCP_REPLY_BYTES_MAX, RESPONSE_HEADER_BYTES_MAX};
use cpra::probe::dns::{DnsCheck, DnsStep};
use cpra::probe::http::{Exchange, Verdict};
use cpra::probe::reason::Reason;
use cpra::store::{HttpProbe, MonitorId, ProbeSpec, StoreBuilder};
use proptest::prelude::*;
use simple_dns::rdata::{A, CNAME, MX, RData, TXT};
use simple_dns::{CLASS, CharacterString, Name, Packet, PacketFlag, RCODE, ResourceRecord};

// ---- HTTP ----

/// The probe of an http monitor, built the way the engine builds it (from configuration text).
fn http_probe(body_contains: Option<&str>) -> HttpProbe {
    let mut yaml = String::from(
        "monitors:\n  - name: h\n    pulse_check:\n      type: http\n      interval: 30s\n      \
         timeout: 5s\n      config:\n        url: http://127.0.0.1:9/x\n",
    );
    if let Some(b) = body_contains {
        yaml.push_str(&format!("        body_contains: {b:?}\n"));
    }
    let mut builder = StoreBuilder::new();
    load_bytes(
        yaml.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |m| builder.add(m),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let Ok(catalog) = builder.finish() else {
        panic!("store refused the monitor");
    };
    match catalog.spec(MonitorId(0)) {
        ProbeSpec::Http(p) => p.clone(),
        _ => panic!("not an http probe"),
    }
}

/// Feeds `resp` cut at `cuts` as the worker does (head bytes gathered in a buffer capped one
/// past the header limit, re-fed from `head_offset`; body bytes fed as they come), then EOF.
fn judge_http(resp: &[u8], cuts: &[usize], p: &HttpProbe) -> Verdict {
    let mut ex = Exchange::new();
    let mut rbuf: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (resp.len() + 1)).collect();
    bounds.push(resp.len());
    bounds.sort_unstable();
    for end in bounds {
        if end <= at {
            continue;
        }
        let data = &resp[at..end];
        at = end;
        let verdict = if !ex.head_done() {
            let room = (RESPONSE_HEADER_BYTES_MAX + 1).saturating_sub(rbuf.len());
            rbuf.extend_from_slice(&data[..data.len().min(room)]);
            assert!(rbuf.len() <= RESPONSE_HEADER_BYTES_MAX + 1);
            let off = ex.head_offset().min(rbuf.len());
            ex.feed_head(&rbuf[off..], p)
        } else {
            ex.feed_body(data, p)
        };
        if let Some(v) = verdict {
            return v;
        }
    }
    ex.eof()
}

/// Pieces that HTTP responses are made of, and some that break them.
fn http_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.1 503 Busy\r\n".to_vec()),
        Just(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        Just(b"HTTP/1.0 204 No Content\r\n".to_vec()),
        Just(b"Content-Length: 5\r\n".to_vec()),
        Just(b"Content-Length: 999\r\n".to_vec()),
        Just(b"Content-Length: x\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"X-A: b\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"5\r\nhello\r\n".to_vec()),
        Just(b"3;ext=1\r\nokk\r\n".to_vec()),
        Just(b"ffffffffffffffffff\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        Just(b"ok".to_vec()),
        Just(b"needle".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ]
}

fn http_response() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::vec(http_piece(), 0..24).prop_map(|v| v.concat()),
    ]
}

fn valid_reason(r: Reason) -> bool {
    matches!(
        r,
        Reason::Ok | Reason::Status | Reason::Body | Reason::Protocol
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn http_judge_never_panics_and_ignores_read_boundaries(
        resp in http_response(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        needle in prop_oneof![Just(None), Just(Some("needle")), Just(Some("ok"))],
    ) {
        let p = http_probe(needle);
        let whole = judge_http(&resp, &[], &p);
        prop_assert!(valid_reason(whole.0), "{whole:?}");
        let cut = judge_http(&resp, &cuts, &p);
        prop_assert_eq!(cut, whole);
        // Byte by byte too, for short responses.
        if resp.len() <= 200 {
            let every: Vec<usize> = (0..resp.len()).collect();
            prop_assert_eq!(judge_http(&resp, &every, &p), whole);
        }
    }
}

#[test]
fn http_judge_on_interim_responses_up_to_the_header_limit() {
    // A target that sends nothing but interim responses until the header limit: the judge
    // must not run away (it recurses once per interim response).
    let p = http_probe(None);
    let mut resp = Vec::new();
    while resp.len() < RESPONSE_HEADER_BYTES_MAX + 64 {
        resp.extend_from_slice(b"HTTP/1.1 100 X\r\n\r\n");
    }
    let v = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || judge_http(&resp, &[], &p))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(v.0, Reason::Protocol);
}

// ---- DNS ----

const ID: u16 = 0x0d0d;

fn dns_check(t: DnsRecordType, expected: Option<&str>) -> DnsCheck {
    let pulse = DnsPulse {
        server: None,
        query: "www.example.test".into(),
        record_type: t,
        expected_rcode: "NOERROR".into(),
        expected_answer: expected.map(Into::into),
    };
    DnsCheck::new(&pulse, ID).unwrap()
}

/// The checks the properties run: one per kind of answer matching.
fn dns_checks() -> Vec<DnsCheck> {
    vec![
        dns_check(DnsRecordType::A, None),
        dns_check(DnsRecordType::A, Some("10.0.0.1")),
        dns_check(DnsRecordType::Cname, Some("web.example.test")),
        dns_check(DnsRecordType::Mx, Some("10 mx.example.test")),
        dns_check(DnsRecordType::Txt, Some("hello world")),
        dns_check(DnsRecordType::Soa, Some("ns.example.test h.example.test 1")),
        dns_check(DnsRecordType::Aaaa, Some("::1")),
        dns_check(DnsRecordType::Ns, Some("ns.example.test")),
    ]
}

/// A real reply to `c`'s query (by an independent codec), with a mix of records.
fn dns_reply(c: &DnsCheck, rcode: u16, tc: bool) -> Vec<u8> {
    let mut q = Vec::new();
    c.query_udp(&mut q);
    let query = Packet::parse(&q).unwrap();
    let mut r = Packet::new_reply(query.id());
    if tc {
        r.set_flags(PacketFlag::TRUNCATION);
    }
    *r.rcode_mut() = RCODE::from(rcode);
    r.questions = query.questions.clone();
    let owner = || Name::new_unchecked("www.example.test");
    let rr = |rdata| ResourceRecord::new(owner(), CLASS::IN, 60, rdata);
    let mut txt = TXT::new();
    txt.add_char_string(CharacterString::new(&b"hello "[..]).unwrap());
    txt.add_char_string(CharacterString::new(&b"world"[..]).unwrap());
    r.answers = vec![
        rr(RData::CNAME(CNAME(Name::new_unchecked("web.example.test")))),
        rr(RData::A(A {
            address: 0x0a00_0001,
        })),
        rr(RData::MX(MX {
            preference: 10,
            exchange: Name::new_unchecked("mx.example.test"),
        })),
        rr(RData::TXT(txt)),
    ];
    r.name_servers = vec![rr(RData::A(A {
        address: 0x0a00_0002,
    }))];
    r.build_bytes_vec_compressed().unwrap()
}

fn check_step(step: &DnsStep) -> Result<(), TestCaseError> {
    if let DnsStep::Done(r, d) = step {
        prop_assert!(d.len() <= DNS_DETAIL_BYTES_MAX, "{} bytes", d.len());
        prop_assert!(
            matches!(r, Reason::Ok | Reason::Dns | Reason::Protocol),
            "{r:?}"
        );
        prop_assert_eq!(r.is_ok(), d.is_empty());
    }
    Ok(())
}

/// Feeds `stream` to a fresh copy of `c` over TCP, cut at `cuts`; the first non-Wait step.
fn judge_tcp(c: &DnsCheck, stream: &[u8], cuts: &[usize]) -> Result<DnsStep, TestCaseError> {
    let mut c = c.clone();
    let mut bounds: Vec<usize> = cuts.iter().map(|x| x % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let mut at = 0;
    for end in bounds {
        if end < at {
            continue;
        }
        let step = c.on_tcp_bytes(&stream[at..end]);
        at = end;
        prop_assert!(c.tcp_buffered() <= DNS_TCP_REPLY_BYTES_MAX);
        check_step(&step)?;
        prop_assert_ne!(&step, &DnsStep::RetryOverTcp);
        if step != DnsStep::Wait {
            return Ok(step);
        }
    }
    Ok(DnsStep::Wait)
}

/// A reply with some bytes changed and maybe cut short.
fn mutated_reply() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0..8usize,
        prop_oneof![Just(0u16), Just(3u16), Just(2u16)],
        proptest::bool::weighted(0.2),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        proptest::option::weighted(0.25, any::<usize>()),
    )
        .prop_map(|(which, rcode, tc, edits, cut)| {
            let checks = dns_checks();
            let mut r = dns_reply(&checks[which], rcode, tc);
            for (at, b) in edits {
                // Keep the id most of the time, so the judge looks further.
                let at = 2 + at % (r.len() - 2);
                r[at] = b;
            }
            if let Some(cut) = cut {
                r.truncate(cut % (r.len() + 1));
            }
            (which, r)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn dns_judge_never_panics_on_arbitrary_datagrams(
        which in 0..8usize,
        mut bytes in proptest::collection::vec(any::<u8>(), 0..600),
        ours in any::<bool>(),
    ) {
        if ours && bytes.len() >= 3 {
            bytes[..2].copy_from_slice(&ID.to_be_bytes());
            bytes[2] |= 0x80;
        }
        let mut c = dns_checks().swap_remove(which);
        check_step(&c.on_udp_reply(&bytes))?;
    }

    #[test]
    fn dns_udp_and_tcp_agree_on_mutated_replies(
        (which, reply) in mutated_reply(),
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
    ) {
        let c = dns_checks().swap_remove(which);
        let udp = c.clone().on_udp_reply(&reply);
        check_step(&udp)?;
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        let tcp = judge_tcp(&c, &framed, &cuts)?;
        let whole = judge_tcp(&c, &framed, &[])?;
        prop_assert_eq!(&tcp, &whole);
        if udp != DnsStep::RetryOverTcp {
            prop_assert_eq!(&tcp, &udp);
        }
    }

    #[test]
    fn dns_tcp_stream_of_arbitrary_bytes_stays_bounded(
        which in 0..8usize,
        stream in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let c = dns_checks().swap_remove(which);
        let step = judge_tcp(&c, &stream, &cuts)?;
        prop_assert_eq!(step, judge_tcp(&c, &stream, &[])?);
    }
}

#[test]
fn dns_valid_replies_pass() {
    // The fixtures the properties mutate are judged Ok when intact.
    for c in dns_checks().into_iter().filter(|c| {
        // AAAA, NS and SOA are not in the fixture reply.
        let mut q = Vec::new();
        c.query_udp(&mut q);
        ![28u16, 2, 6].contains(&u16::from_be_bytes([q[q.len() - 15], q[q.len() - 14]]))
    }) {
        let mut c2 = c.clone();
        assert_eq!(
            c2.on_udp_reply(&dns_reply(&c, 0, false)),
            DnsStep::Done(Reason::Ok, String::new())
        );
        assert_eq!(
            c2.on_udp_reply(&dns_reply(&c, 0, true)),
            DnsStep::RetryOverTcp
        );
    }
}
