//! DNSSEC-signed lab zones over real sockets: DNSKEY and RRSIGs with the DO bit, NSEC for a
//! missing name, the expired mode's past signatures, and the anchors in the ready info.

use std::net::SocketAddr;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{STEP, start, udp};

const SIGNED: &str = r#"
[[domains]]
name = "signed.test"
dnssec = true
mx = ["10 mx.signed.test"]
txt = ["v=spf1 -all"]

[[domains]]
name = "expired.test"
dnssec = "expired"
a = ["127.0.0.60"]

[[domains]]
name = "wrong.test"
dnssec = "wrong-key"
a = ["127.0.0.61"]

[[domains]]
name = "plain.test"
a = ["127.0.0.62"]

[[hosts]]
name = "mx.signed.test"
address = "127.0.0.63"
catch_all = true
"#;

/// One query over TCP (signed answers can outgrow a UDP datagram), with the DO bit.
async fn query_do(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::new(7, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(4096);
    msg.set_edns(edns);
    let bytes = msg.to_vec().expect("encode");
    let fut = async {
        let mut s = TcpStream::connect(server).await.expect("connect");
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        s.write_all(&framed).await.expect("write");
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.expect("length");
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut body).await.expect("body");
        Message::from_vec(&body).expect("decode")
    };
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("no answer for {name} {rtype}"))
}

/// The RRSIGs of a section, as (type covered, expiration in Unix seconds).
fn rrsigs(records: &[hickory_proto::rr::Record]) -> Vec<(RecordType, u32)> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
                Some((sig.input().type_covered, sig.input().sig_expiration.get()))
            }
            _ => None,
        })
        .collect()
}

fn now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    u32::try_from(secs).expect("before 2106")
}

#[tokio::test]
async fn signed_zone_answers_dnskey_rrsigs_and_nsec() {
    let lab = start(SIGNED).await;

    let keys = query_do(lab.resolver(), "signed.test.", RecordType::DNSKEY).await;
    assert_eq!(keys.metadata.response_code, ResponseCode::NoError);
    let dnskeys: Vec<String> = keys
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::DNSKEY)
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(dnskeys.len(), 1, "{keys:?}");
    assert!(dnskeys[0].starts_with("257 3 13 "), "{dnskeys:?}");
    assert!(
        rrsigs(&keys.answers)
            .iter()
            .any(|(t, _)| *t == RecordType::DNSKEY),
        "{keys:?}"
    );

    let mx = query_do(lab.resolver(), "signed.test.", RecordType::MX).await;
    let sigs = rrsigs(&mx.answers);
    assert_eq!(sigs.len(), 1, "{mx:?}");
    assert_eq!(sigs[0].0, RecordType::MX);
    assert!(sigs[0].1 > now(), "a good signature expires in the future");

    // The host's own A record, added by the lab, is signed too.
    let a = query_do(lab.resolver(), "mx.signed.test.", RecordType::A).await;
    assert_eq!(rrsigs(&a.answers).first().map(|s| s.0), Some(RecordType::A));

    // A missing name: NXDOMAIN, with a signed NSEC that covers it and the signed SOA.
    let gone = query_do(lab.resolver(), "nothere.signed.test.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);
    let nsec: Vec<_> = gone
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NSEC)
        .collect();
    assert!(!nsec.is_empty(), "no NSEC in {gone:?}");
    let covered: Vec<RecordType> = rrsigs(&gone.authorities).iter().map(|s| s.0).collect();
    assert!(covered.contains(&RecordType::NSEC), "{covered:?}");
    assert!(covered.contains(&RecordType::SOA), "{covered:?}");

    // Without the DO bit, no DNSSEC records: clients that did not ask see the zone as before.
    let plain = udp(&lab, "signed.test.", RecordType::MX).await;
    assert!(rrsigs(&plain.answers).is_empty(), "{plain:?}");

    lab.shutdown().await;
}

#[tokio::test]
async fn expired_mode_signs_in_the_past_and_unsigned_zones_stay_unsigned() {
    let lab = start(SIGNED).await;

    let a = query_do(lab.resolver(), "expired.test.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    let sigs = rrsigs(&a.answers);
    assert_eq!(sigs.len(), 1, "{a:?}");
    assert!(
        sigs[0].1 < now(),
        "expired mode: expiration {} is not past",
        sigs[0].1
    );
    let keys = query_do(lab.resolver(), "expired.test.", RecordType::DNSKEY).await;
    assert!(rrsigs(&keys.answers).iter().all(|s| s.1 < now()));

    let plain = query_do(lab.resolver(), "plain.test.", RecordType::A).await;
    assert_eq!(plain.answers.len(), 1);
    assert!(rrsigs(&plain.answers).is_empty());
    let none = query_do(lab.resolver(), "plain.test.", RecordType::DNSKEY).await;
    assert!(none.answers.is_empty(), "{none:?}");

    lab.shutdown().await;
}

#[tokio::test]
async fn ready_info_lists_one_anchor_per_signed_zone() {
    let lab = start(SIGNED).await;
    let info = lab.ready_info();
    let zones: Vec<(&str, &str)> = info
        .dnssec
        .iter()
        .map(|a| (a.zone.as_str(), a.mode.as_str()))
        .collect();
    assert_eq!(
        zones,
        [
            ("expired.test", "expired"),
            ("signed.test", "signed"),
            ("wrong.test", "wrong-key")
        ]
    );

    for anchor in &info.dnssec {
        let prefix = format!("{}. 3600 IN DS ", anchor.zone);
        let ds = anchor.ds.strip_prefix(&prefix).expect("DS line");
        let fields: Vec<&str> = ds.split(' ').collect();
        assert_eq!(fields.len(), 4, "{ds}");
        assert_eq!((fields[1], fields[2]), ("13", "2"), "{ds}");
        assert_eq!(fields[3].len(), 64, "SHA-256 in hex: {ds}");
        let dnskey = anchor
            .dnskey
            .strip_prefix(&format!("{}. 3600 IN DNSKEY ", anchor.zone))
            .expect("DNSKEY line");
        // The zone publishes the anchored key, except in wrong-key mode.
        let served = query_do(
            lab.resolver(),
            &format!("{}.", anchor.zone),
            RecordType::DNSKEY,
        )
        .await;
        let published = served
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNSKEY && r.data.to_string() == dnskey);
        assert_eq!(published, anchor.mode != "wrong-key", "{anchor:?}");
    }
    lab.shutdown().await;
}
