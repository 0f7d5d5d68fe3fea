//! Image configs, save manifests and image references from untrusted bytes: reading them may
//! fail, but never panic, and whatever parses must survive a round trip.
#![no_main]

use berth_api::image::ImageConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = serde_json::from_slice::<ImageConfig>(data) {
        let again = serde_json::to_vec(&config).expect("a parsed config serializes");
        let back: ImageConfig = serde_json::from_slice(&again).expect("a serialized config parses");
        assert_eq!(back, config);
    }
    let _ = berth_image::save::parse_manifest(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(reference) = berth_image::Reference::parse(&text) {
        assert_eq!(berth_image::Reference::parse(&reference.to_string()).as_ref(), Ok(&reference));
    }
});
