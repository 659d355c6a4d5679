//! Takes from the vendored Swagger UI archive only the files `/docs` serves (see
//! `src/docs.rs`), into `OUT_DIR`, where `include_bytes!` finds them.
//!
//! The archive holds the whole Swagger UI repository; embedding its `dist/` folder as
//! is would add 11 MB of source maps and unused bundles to the binary. These four
//! files are 1.8 MB.

use std::{
    env,
    io::{Cursor, Read},
    path::PathBuf,
};

/// The files served under `/docs/`, by their name in the archive's `dist/` folder.
const FILES: [&str; 4] = [
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut archive =
        zip::ZipArchive::new(Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED))
            .expect("the vendored Swagger UI archive is a zip file");
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    for file in FILES {
        let suffix = format!("/dist/{file}");
        let name = names
            .iter()
            .find(|n| n.ends_with(&suffix) && n.matches('/').count() == 2)
            .unwrap_or_else(|| panic!("{file} is not in the vendored Swagger UI's dist/"));
        let mut bytes = Vec::new();
        archive
            .by_name(name)
            .and_then(|mut entry| Ok(entry.read_to_end(&mut bytes)?))
            .unwrap_or_else(|e| panic!("extracting {name}: {e}"));
        std::fs::write(out.join(file), bytes)
            .unwrap_or_else(|e| panic!("writing {file} to OUT_DIR: {e}"));
    }
}
