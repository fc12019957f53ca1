using System.Buffers;
using System.Diagnostics;

namespace IIC.Grpc.Protocol;

// CallConnection, the reader thread's own sends: never a wait for room.
internal abstract partial class CallConnection
{
    /// <summary>
    /// A/B switch <c>IIC_GRPC_READER_DEFERS=0</c> (on by default): the reader thread sends as every other thread does,
    /// waiting for room (the behaviour before round 10, which inline code writing without reading can deadlock). Only for
    /// timing a quiet A/B of the send path on the reader thread (TrySend under a TryEnter instead of Send under the lock).
    /// </summary>
    private static readonly bool s_readerDefers = Environment.GetEnvironmentVariable("IIC_GRPC_READER_DEFERS") != "0";

    /// <summary>
    /// How long the reader thread waits for a frame when it has deferred frames and nothing else to do before it tries to
    /// send them again (room in the peer's ring rings no doorbell here): 100 µs.
    /// </summary>
    private static readonly long DeferredRetryTicks = Stopwatch.Frequency / 10_000;

    /// <summary>
    /// Reader thread only: frames it could not send without waiting, in order, and markers (<see cref="DeferredFrame.Buffer"/>
    /// null) whose task completes once every frame before them went into the ring.
    /// </summary>
    private readonly Queue<DeferredFrame> _deferred = new();

    private readonly List<DeferredFrame> _flushedMarkers = []; // reader thread only: scratch for FlushDeferred

    /// <summary>A frame copied out of its builder (Buffer, Length), or a marker (Buffer null) with the task to complete.</summary>
    private readonly record struct DeferredFrame(byte[]? Buffer, int Length, TaskCompletionSource? Sent, Func<Exception, Exception>? Failure);

    /// <summary>
    /// Reader thread: sends <paramref name="frame"/> if it fits now and nothing sent before it waits; else copies it to the
    /// queue <see cref="FlushDeferred"/> empties after later polls. Why: with inline handlers and inline completions the
    /// code writing here is the code that should read. Were this thread to wait for room in the peer's ring, it would stop
    /// reading its own: a peer doing the same (its reader thread writing replies into a full ring: an inline bidi handler,
    /// or a client writing many requests from an inline continuation without reading) then waits for this one, and
    /// neither ring drains again. Deferred, this thread goes back to reading, the peer's writes complete, and the peer
    /// reads. Its queue and the peer's queue of unread messages grow instead (as they do for any reader that does not
    /// keep up); the writer's task (<see cref="WhenDeferredSent"/>) completes once its message went, so a writer that
    /// awaits its writes is held back.
    /// </summary>
    /// <returns>True when deferred.</returns>
    private bool SendOrDefer(ReadOnlySpan<byte> frame)
    {
        if (IsClosed)
        {
            throw new ObjectDisposedException(GetType().Name, "The connection is closed.");
        }
        if (_deferred.Count == 0 && TrySendNow(frame))
        {
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, frame.Length));
        frame.CopyTo(buffer);
        _deferred.Enqueue(new DeferredFrame(buffer, frame.Length, null, null));
        return true;
    }

    /// <summary>
    /// Set under the send lock while its holder sends a frame longer than one record, which may wait for room (the reader
    /// thread's own, or the connection's sender's): other senders then do not wait for the lock (they would wait for the room too).
    /// </summary>
    private bool _lockHolderWaits;

    /// <summary>How many times a sender spins (then yields) for a send lock held by a thread that is not waiting for room (TryNow).</summary>
    private const int LockSpins = 64;

    /// <summary>
    /// Reader thread: one try to send <paramref name="frame"/> without waiting for room. The send lock it waits for only
    /// briefly, and not at all while its holder waits for room (<see cref="_lockHolderWaits"/>): that holder waits for the
    /// peer to read, and the peer may be waiting for this thread to read. While sends are queued for the connection's
    /// sender it does not send (false: deferred). A frame longer than one record (headers or trailers of more than
    /// <see cref="IIC.Transport.IicChannel.MaxClaimLength"/>: never a message chunk) is sent waiting, as before.
    /// </summary>
    private bool TrySendNow(ReadOnlySpan<byte> frame)
    {
        if (frame.Length > _channel.MaxClaimLength)
        {
            lock (_sendLock)
            {
                if (Volatile.Read(ref _queued) != 0)
                {
                    return false; // the connection's sender owns the ring until its queue is sent: tried again later
                }
                Volatile.Write(ref _lockHolderWaits, true);
                try
                {
                    _channel.Send(frame);
                }
                finally
                {
                    Volatile.Write(ref _lockHolderWaits, false);
                }
            }
            return true;
        }
        // Another thread is sending (usually a copy of a few hundred ns): waited for briefly, not at all while its holder
        // waits for room or sends are queued (the connection's sender owns the ring then): the same one try as any sender's.
        return TryNow(frame);
    }

    /// <summary>
    /// Reader thread, right after a send returned true (deferred): a task that completes on this thread once the deferred
    /// frames went into the ring, or fails with <paramref name="failure"/>(why) if the connection ends first. The
    /// continuation runs inline here, as the inline code that wrote (the only code that writes on this thread) expects.
    /// </summary>
    public Task WhenDeferredSent(Func<Exception, Exception> failure)
    {
        Debug.Assert(IsCurrentReader && _deferred.Count != 0, "only after a deferral on the reader thread");
        var sent = new TaskCompletionSource();
        _deferred.Enqueue(new DeferredFrame(null, 0, sent, failure));
        return sent.Task;
    }

    /// <summary>Reader thread: sends deferred frames in order while they fit; completes the markers passed. True when none are left.</summary>
    private bool FlushDeferred()
    {
        while (_deferred.TryPeek(out var entry))
        {
            if (entry.Buffer is { } buffer)
            {
                if (!TrySendNow(buffer.AsSpan(0, entry.Length)))
                {
                    break;
                }
                ArrayPool<byte>.Shared.Return(buffer);
            }
            else
            {
                _flushedMarkers.Add(entry);
            }
            _deferred.Dequeue();
        }
        // Completed after the loop: a continuation running inline may write again (and defer behind what is left).
        try
        {
            foreach (var marker in _flushedMarkers)
            {
                marker.Sent!.TrySetResult();
            }
        }
        finally
        {
            _flushedMarkers.Clear();
        }
        return _deferred.Count == 0;
    }

    /// <summary>Reader thread, the connection closed: drops the deferred frames; their writers' tasks fail.</summary>
    private void FailDeferred(Exception reason)
    {
        while (_deferred.TryDequeue(out var entry))
        {
            if (entry.Buffer is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            else
            {
                _flushedMarkers.Add(entry);
            }
        }
        try
        {
            foreach (var marker in _flushedMarkers)
            {
                marker.Sent!.TrySetException(marker.Failure!(reason));
            }
        }
        finally
        {
            _flushedMarkers.Clear();
        }
    }
}
