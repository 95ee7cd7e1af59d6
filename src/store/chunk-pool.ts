/**
 * Reusable read buffers for serving files. A fresh 1 MiB buffer per read is external memory that V8 counts
 * towards its next collection, and a collection walks the whole heap: in a process holding policies, trust
 * roots and caches that made garbage collection a large share of a warm layer's cost. Buffers come back
 * only when their bytes are in the kernel (the socket write's callback), so none is reused while referenced.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** Buffers out on loan; a buffer comes back at most once, and only one of ours comes back at all. */
  private readonly lent = new WeakSet<ArrayBuffer>();

  constructor(
    readonly chunkBytes: number,
    /** Free buffers kept for reuse; past it a returned buffer is left to the collector. */
    private readonly keep: number,
  ) {}

  take(): Buffer {
    const buf = this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
    this.lent.add(buf.buffer as ArrayBuffer);
    return buf;
  }

  /** Returns the buffer under `chunk` (a view of a taken buffer); anything else is ignored. */
  give(chunk: Buffer): void {
    const ab = chunk.buffer as ArrayBuffer;
    if (!this.lent.delete(ab)) return;
    if (this.free.length < this.keep) this.free.push(Buffer.from(ab, 0, this.chunkBytes));
  }

  /** Free buffers held now (their memory is the pool's bound: keep × chunkBytes). */
  get idle(): number {
    return this.free.length;
  }
}

/** 1 MiB reads: a quarter of the syscalls and event-loop turns of the 64 KiB default for big layers. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** Shared by every file read in this process: at most 16 MiB kept idle; busy buffers are bounded by open streams (two each). */
export const fileChunks = new ChunkPool(READ_CHUNK_BYTES, 16);
