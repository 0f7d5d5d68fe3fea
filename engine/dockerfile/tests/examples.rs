//! Snapshots of the parse of the documentation's example Dockerfiles (fixtures/).

use berth_dockerfile::parse;
use rstest::rstest;

#[rstest]
#[case::nginx("nginx", include_str!("fixtures/nginx.Dockerfile"))]
#[case::firefox_vnc("firefox-vnc", include_str!("fixtures/firefox-vnc.Dockerfile"))]
#[case::multiple_images("multiple-images", include_str!("fixtures/multiple-images.Dockerfile"))]
#[case::reference_examples("reference-examples", include_str!("fixtures/reference-examples.Dockerfile"))]
#[case::directus_extension("directus-extension", include_str!("fixtures/directus-extension.Dockerfile"))]
fn parses_documentation_examples(#[case] name: &str, #[case] text: &str) {
    let parsed = parse(text).expect("the documentation's examples parse");
    insta::assert_json_snapshot!(name, parsed);
}

#[test]
fn the_reference_example_block_is_four_stages() {
    let text = include_str!("fixtures/reference-examples.Dockerfile");
    let parsed = parse(text).expect("parses");
    let steps: Vec<usize> = parsed.stages.iter().map(|s| s.instructions.len()).collect();
    assert_eq!(steps, vec![4, 8, 1, 1]);
}
