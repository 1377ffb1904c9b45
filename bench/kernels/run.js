// node --no-liftoff --experimental-wasm-relaxed-simd run.js LABEL=FILE.wasm… [--rows N --cols N --tokens N --rounds N]
// Each build's wasm in its own instance; the builds take turns within every round (so a change
// of machine load hits them alike), and each figure is the best round.
const fs = require('fs');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? +args[i + 1] : dflt; };
const rows = opt('--rows', 1536), cols = opt('--cols', 1536), tokens = opt('--tokens', 32), rounds = opt('--rounds', 15);
const builds = args.filter(a => a.includes('=') && a.endsWith('.wasm')).map(a => a.split('='));
(async () => {
  for (const kind of [4, 5, 6]) {
    const inst = [];
    for (const [label, file] of builds) {
      const { instance } = await WebAssembly.instantiate(fs.readFileSync(file), {});
      instance.exports.setup(kind, rows, cols, tokens);
      for (let i = 0; i < 5; i++) { instance.exports.batch(); instance.exports.one(); }
      inst.push({ label, e: instance.exports, batch: Infinity, one: Infinity, sums: [instance.exports.batch(), instance.exports.one()] });
    }
    for (let r = 0; r < rounds; r++) {
      for (const b of inst) {
        let t = performance.now(); b.e.batch(); b.batch = Math.min(b.batch, performance.now() - t);
        t = performance.now(); for (let j = 0; j < tokens; j++) b.e.one(); b.one = Math.min(b.one, performance.now() - t);
      }
    }
    const blocks = rows * cols / 256 * tokens;
    for (const b of inst) {
      const ns = v => (v * 1e6 / blocks).toFixed(2);
      const same = b.sums[0] === inst[0].sums[0] && b.sums[1] === inst[0].sums[1] ? 'same sums' : `SUMS DIFFER (${b.sums} vs ${inst[0].sums})`;
      console.log(`Q${kind}_K ${b.label.padEnd(10)} prompt batch of ${tokens}: ${ns(b.batch)} ns per token-block (${(inst[0].batch / b.batch).toFixed(2)}x ${inst[0].label}); one token: ${ns(b.one)} ns (${(inst[0].one / b.one).toFixed(2)}x); ${same}`);
    }
  }
})();
