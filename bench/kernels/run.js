// The kernels' timing loop, for Node and for a page in headless Chromium (chromium.py):
//   node --no-liftoff --experimental-wasm-relaxed-simd run.js LABEL=FILE.wasm… [--rows N --cols N --tokens N --rounds N]
// Each build's wasm in its own instance; the builds take turns within every round (so a change
// of machine load hits them alike), and each figure is the best round.
async function kernelBench(builds, args, print) {
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? +args[i + 1] : dflt; };
  const rows = opt('--rows', 1536), cols = opt('--cols', 1536), tokens = opt('--tokens', 32), rounds = opt('--rounds', 15);
  for (const kind of [4, 5, 6]) {
    const inst = [];
    for (const [label, bytes] of builds) {
      const { instance } = await WebAssembly.instantiate(bytes, {});
      const e = instance.exports;
      e.setup(kind, rows, cols, tokens);
      for (let i = 0; i < 5; i++) { e.batch(); e.one(); if (e.one_rows) e.one_rows(); }
      inst.push({ label, e, batch: Infinity, one: Infinity, rows: Infinity, sums: [e.batch(), e.one(), e.one_rows ? e.one_rows() : e.one()] });
    }
    for (let r = 0; r < rounds; r++) {
      for (const b of inst) {
        let t = performance.now(); b.e.batch(); b.batch = Math.min(b.batch, performance.now() - t);
        t = performance.now(); for (let j = 0; j < tokens; j++) b.e.one(); b.one = Math.min(b.one, performance.now() - t);
        if (b.e.one_rows) { t = performance.now(); for (let j = 0; j < tokens; j++) b.e.one_rows(); b.rows = Math.min(b.rows, performance.now() - t); }
      }
    }
    const blocks = rows * cols / 256 * tokens;
    for (const b of inst) {
      const ns = v => (v * 1e6 / blocks).toFixed(2);
      const ratio = (a, v) => (a / v).toFixed(2) + 'x';
      const same = b.sums.every((s, i) => s === inst[0].sums[i]) ? 'same sums' : `SUMS DIFFER (${b.sums} vs ${inst[0].sums})`;
      const rowsPart = Number.isFinite(b.rows) ? `; generation, 32 rows a call: ${ns(b.rows)} ns (${ratio(Number.isFinite(inst[0].rows) ? inst[0].rows : inst[0].one, b.rows)})` : '';
      print(`Q${kind}_K ${b.label.padEnd(10)} prompt batch of ${tokens}: ${ns(b.batch)} ns per token-block (${ratio(inst[0].batch, b.batch)} ${inst[0].label}); one token, a row a call: ${ns(b.one)} ns (${ratio(inst[0].one, b.one)})${rowsPart}; ${same}`);
    }
  }
}
if (typeof process !== 'undefined' && process.versions && process.versions.node) {
  const fs = require('fs');
  const args = process.argv.slice(2);
  const builds = args.filter(a => a.includes('=') && a.endsWith('.wasm')).map(a => a.split('=')).map(([l, f]) => [l, fs.readFileSync(f)]);
  kernelBench(builds, args, console.log);
}
