// bench/kernels/page.html?worker=1: the same timing loop in a dedicated Worker.
importScripts('run.js');
onmessage = async (e) => {
  await kernelBench(e.data.builds, e.data.args, (l) => postMessage(l));
  postMessage(null);
};
