//! The tolerant MIME reader, `postie_mime::reader::parse`: it must never
//! panic, whatever the bytes. Every entity's accessors are exercised, and:
//! a leaf's `size` is its decoded body's length, a multipart's is the sum of
//! its leaves'; every defect points at an entity of the tree; parsing is
//! deterministic; writing the tree (`to_bytes`) does not panic, and when it
//! succeeds, what it wrote reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::reader::{self, PartExt};
use postie_mime::Body;

fuzz_target!(|data: &[u8]| {
    let parsed = reader::parse(data);
    let message = &parsed.message;
    let entities = message.walk();
    assert!(!entities.is_empty() && entities[0].0.is_empty(), "walk does not start at the root");

    for (path, entity) in &entities {
        let _ = entity.content_type().essence().to_owned();
        let _ = entity.content_transfer_encoding();
        let _ = entity.text();
        let _ = entity.filename();
        let _ = entity.header_text("subject");
        let _ = entity.header_text("content-type");
        let size = entity.size();
        match entity.body() {
            Body::Multipart { .. } => {
                let leaves: usize = entities
                    .iter()
                    .filter(|(p, e)| p.starts_with(path) && !matches!(e.body(), Body::Multipart { .. }))
                    .map(|(_, e)| e.size())
                    .sum();
                assert_eq!(size, leaves, "size of the multipart at {path:?}");
            }
            _ => assert_eq!(size, entity.decoded_body().len(), "size of the leaf at {path:?}"),
        }
    }
    for defect in &parsed.defects {
        let _ = defect.to_string();
        assert!(
            entities.iter().any(|(p, _)| *p == defect.part),
            "defect {defect} at {:?}, which is not in the tree",
            defect.part
        );
    }
    assert_eq!(reader::parse(data), parsed, "parsing is not deterministic");

    if let Ok(bytes) = message.to_bytes() {
        let _ = reader::parse(&bytes);
    }
});
