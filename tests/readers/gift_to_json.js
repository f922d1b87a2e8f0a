// Read GIFT on stdin with gift-pegjs (a PEG grammar of Moodle's GIFT); print its questions as JSON.
const parser = require("gift-pegjs");
let source = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (source += chunk));
process.stdin.on("end", () => process.stdout.write(JSON.stringify(parser.parse(source))));
