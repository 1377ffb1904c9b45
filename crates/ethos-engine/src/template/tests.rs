//! Unit tests of `template`.

use super::*;

#[test]
fn renders_and_escapes() {
    assert_eq!(
        render("a {x} b {{y}} }", &[("x", "1")]).unwrap(),
        "a 1 b {y} }"
    );
    assert_eq!(render("{x}{x}", &[("x", "é")]).unwrap(), "éé");
}

#[test]
fn unknown_and_bad() {
    let e = render("hi {nme}", &[("name", "x")]).unwrap_err();
    assert!(e.to_string().contains("{nme}"), "{e}");
    assert!(e.to_string().contains("{name}"), "{e}");
    assert_eq!(
        render("oops {", &[]).unwrap_err(),
        TemplateError::Unclosed { at: 5 }
    );
    assert!(matches!(
        render("{ \"a\": 1 }", &[]),
        Err(TemplateError::BadName { at: 0, .. })
    ));
}

#[test]
fn defaults_are_valid() {
    Templates::default().validate().unwrap();
    for spec in TEMPLATE_SPECS.iter() {
        assert!(
            Templates::default().get(spec.name).is_some(),
            "{}",
            spec.name
        );
    }
}

#[test]
fn set_checks_placeholders() {
    let mut t = Templates::default();
    assert!(t.set("vanilla", "{question}").is_err());
    assert_eq!(t.vanilla, "{input}");
    t.set("vanilla", "Q: {input}").unwrap();
    assert!(!t.is_default("vanilla"));
    t.reset("vanilla").unwrap();
    assert!(t.is_default("vanilla"));
}

#[test]
fn attributes() {
    assert_eq!(
        split_attribute("CREGION_South"),
        ("region in the United States".into(), "South".into())
    );
    assert_eq!(
        split_attribute("POLIDEOLOGY_Very_liberal"),
        ("political ideology".into(), "Very_liberal".into())
    );
}
