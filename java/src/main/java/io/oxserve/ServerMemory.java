package io.oxserve;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps the server's tensor memory alive while Java can read it, so that request tensors reach a
 * model without a copy.
 *
 * <p>The native side hands each fixed-size tensor of 64 KiB or more over as a direct buffer over
 * its own bytes plus a handle: a reference it holds on those bytes until {@link #release} drops it. {@link #take}
 * registers a {@link Cleaner} action on that buffer which releases the handle once the buffer is
 * unreachable. Every view of a direct buffer ({@code asReadOnlyBuffer}, {@code slice},
 * {@code asFloatBuffer}…) refers to the buffer it came from, and the native side holds a global
 * reference on a buffer it reads a model's answer from, so the memory lives as long as anything,
 * in Java or in an answer, can read it. Models get read-only views only.
 *
 * <p>The garbage collector does not see this memory, and a model that allocates little may run
 * long between collections. So the bytes kept this way are counted: past {@link #limit}, a
 * tensor is copied into the Java heap instead and its handle released at once, which keeps the
 * memory bounded and, since copies fill the heap, brings on the collection that frees the rest.
 * The count sees a tensor's own bytes, not the larger buffer they may be a slice of (what the
 * connection read into), which a handle keeps alive too: that is why small tensors, where the
 * difference would dominate, are copied rather than lent.
 */
final class ServerMemory {
    /** Bytes kept past which tensors are copied instead (256 MiB; tests lower it). */
    static volatile long limit = 256L << 20;

    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong KEPT = new AtomicLong();

    private ServerMemory() {}

    /**
     * The buffers the native side handed over, as read-only little-endian views kept alive by
     * their handles; {@code null} where the buffer is only valid during this call (handle 0: a
     * BYTES tensor or one under 64 KiB) or past the limit (its handle is then released already), and must
     * be copied before the call returns. Every non-zero handle is registered or released, even
     * when this throws, so none is lost.
     */
    static ByteBuffer[] take(ByteBuffer[] buffers, long[] handles) {
        ByteBuffer[] views = new ByteBuffer[buffers.length];
        int i = 0;
        try {
            for (; i < buffers.length; i++) {
                if (handles[i] == 0) {
                    continue;
                }
                ByteBuffer view = buffers[i].asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
                long size = buffers[i].capacity();
                if (KEPT.addAndGet(size) > limit) {
                    KEPT.addAndGet(-size);
                    release(handles[i]);
                    continue;
                }
                try {
                    CLEANER.register(buffers[i], new Release(handles[i], size));
                } catch (Throwable e) {
                    KEPT.addAndGet(-size);
                    throw e;
                }
                views[i] = view;
            }
        } catch (Throwable e) {
            // Handles i.. are neither registered nor released yet.
            for (; i < buffers.length; i++) {
                if (handles[i] != 0) {
                    release(handles[i]);
                }
            }
            throw e;
        }
        return views;
    }

    /** The bytes kept alive for Java now. */
    static long kept() {
        return KEPT.get();
    }

    /**
     * The cleaning action of one buffer; it holds only the handle, never the buffer (which would
     * keep it reachable for ever).
     */
    private record Release(long handle, long size) implements Runnable {
        @Override
        public void run() {
            release(handle);
            KEPT.addAndGet(-size);
        }
    }

    /** Drops the native side's reference on the bytes behind {@code handle}; once per handle. */
    private static native void release(long handle);
}
