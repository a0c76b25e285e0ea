/**
 * Working buffers a render thread keeps between chunks: fresh multi-MiB arrays cost a page
 * fault per 4 KiB, which took as long as rendering the samples.
 */
export class Scratch {
  private f = new Float32Array(0);
  private w = new Uint32Array(0);

  floats(n: number): Float32Array {
    if (this.f.length < n) this.f = new Float32Array(n);
    return this.f.subarray(0, n);
  }

  words(n: number): Uint32Array {
    if (this.w.length < n) this.w = new Uint32Array(n);
    return this.w.subarray(0, n);
  }
}
