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

    /// <summary>
    /// A frame copied out of its builder (Buffer, Length), or a marker (Buffer null) with the task to complete. A frame its
    /// owner may take back (Claim: a client's CallStart, CallConnection.Claimed.cs) carries its own task.
    /// </summary>
    private readonly record struct DeferredFrame(byte[]? Buffer, int Length, TaskCompletionSource? Sent, Func<Exception, Exception>? Failure, IQueuedSendClaim? Claim = null);

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
        var split = frame.Length > _sendCheckAbove && MustSplit(frame); // a header block over the limit throws here, nothing sent
        if (!split && _deferred.Count == 0 && TrySendNow(frame))
        {
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, frame.Length));
        frame.CopyTo(buffer);
        if (split && _deferred.Count == 0)
        {
            // Longer than one record: its pieces go from the connection's sender (in order with what it has queued; this
            // thread's later frames see the queue and defer behind it), awaiting room without a thread, on the stall clock.
            HandOff(buffer, frame.Length);
        }
        else
        {
            _deferred.Enqueue(new DeferredFrame(buffer, frame.Length, null, null));
        }
        return true;
    }

    /// <summary>
    /// Reader thread only: the last frame longer than one record this thread handed to the connection's sender
    /// (<see cref="HandOff"/>), until it went; the deferred frames and markers behind it wait for it.
    /// </summary>
    private Task? _handedOff;

    private void HandOff(byte[] rented, int length) => _handedOff = QueueAdopted(rented, length);

    /// <summary>Whether this reader thread has frames it could not send yet (deferred, or handed to the sender and not gone).</summary>
    private bool HasDeferred => _deferred.Count != 0 || _handedOff is not null;

    /// <summary>How many times a sender spins (then yields) for a send lock held by a thread that is not waiting for room (TryNow).</summary>
    private const int LockSpins = 64;

    /// <summary>
    /// Reader thread: one try to send <paramref name="frame"/> (one record at most) without waiting for room. The send lock
    /// it waits for only briefly (its holders only copy a record), and not at all while sends are queued for the
    /// connection's sender (false: deferred): the same one try as any sender's. Before round 18 a frame longer than one
    /// record was sent here waiting for room (this thread stopped reading meanwhile); now it is handed to the sender in
    /// pieces (<see cref="SendOrDefer"/>).
    /// </summary>
    private bool TrySendNow(ReadOnlySpan<byte> frame) => TryNow(frame);

    /// <summary>
    /// Reader thread, right after a send returned true (deferred): a task that completes on this thread once the deferred
    /// frames went into the ring, or fails with <paramref name="failure"/>(why) if the connection ends first. The
    /// continuation runs inline here, as the inline code that wrote (the only code that writes on this thread) expects.
    /// </summary>
    public Task WhenDeferredSent(Func<Exception, Exception> failure)
    {
        Debug.Assert(IsCurrentReader && HasDeferred, "only after a deferral on the reader thread");
        var sent = new TaskCompletionSource();
        _deferred.Enqueue(new DeferredFrame(null, 0, sent, failure));
        return sent.Task;
    }

    /// <summary>
    /// Reader thread: sends deferred frames in order while they fit (a frame longer than one record is handed to the
    /// connection's sender, and what follows waits until it went); completes the markers passed. True when none are left.
    /// </summary>
    /// <exception cref="Exception">A frame handed to the sender failed (the connection ended): the reader ends with it.</exception>
    private bool FlushDeferred()
    {
        while (true)
        {
            if (_handedOff is { } handedOff)
            {
                if (!handedOff.IsCompleted)
                {
                    break;
                }
                _handedOff = null;
                _deferredSent++;
                handedOff.GetAwaiter().GetResult(); // failed only when the connection ended: so does this reader
            }
            if (!_deferred.TryPeek(out var entry))
            {
                break;
            }
            if (entry.Buffer is { } buffer)
            {
                if (entry.Length > _channel.MaxClaimLength)
                {
                    HandOff(buffer, entry.Length); // the sender owns the buffer now (never a claimed frame: those are one record)
                    _deferred.Dequeue();
                    continue;
                }
                // A frame its owner may take back goes only with its owner's word (the claim throws when the connection's
                // end took it: this reader ends, and FailDeferred fails its task).
                if (!(entry.Claim is { } claim ? TrySendNowClaimed(buffer.AsSpan(0, entry.Length), claim) : TrySendNow(buffer.AsSpan(0, entry.Length))))
                {
                    break;
                }
                _deferredSent++;
                ArrayPool<byte>.Shared.Return(buffer);
                if (entry.Sent is not null)
                {
                    _flushedMarkers.Add(entry); // completed below, as a marker
                }
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
        return !HasDeferred;
    }

    private long _deferredSent; // reader thread only: frames it sent from its deferred queue (progress, for the stall clock)
    private long _deferStallStart; // reader thread only: when its deferred frames last made no progress (0: not stalled)
    private long _deferStallSent;
    private long _deferStallOccupancy;

    /// <summary>
    /// Reader thread, after a flush that left frames deferred: the same stall clock as the sender's
    /// (<see cref="SendStallTimeout"/>, the server's ResponseStallTimeout). Progress (a deferred frame went, or the ring's
    /// occupancy changed: the peer took bytes) restarts it; when the peer took nothing for the whole limit the connection is
    /// closed (<see cref="OnSendStalled"/>), and this thread then meets the closed channel and ends. Only while frames are
    /// deferred: the path where nothing is deferred never comes here.
    /// </summary>
    private void CheckDeferredStall()
    {
        if (SendStallTimeout is not { } timeout || IsClosed)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        var occupancy = _channel.ReadOutgoingOccupancy();
        if (_deferStallStart == 0 || occupancy != _deferStallOccupancy || _deferredSent != _deferStallSent)
        {
            _deferStallStart = now;
            _deferStallOccupancy = occupancy;
            _deferStallSent = _deferredSent;
            return;
        }
        var stalled = Stopwatch.GetElapsedTime(_deferStallStart, now);
        if (stalled >= timeout)
        {
            _deferStallStart = 0;
            OnSendStalled(stalled);
        }
    }

    /// <summary>Reader thread, the connection closed: drops the deferred frames; their writers' tasks fail.</summary>
    private void FailDeferred(Exception reason)
    {
        if (_handedOff is { } handedOff)
        {
            // The sender drops it (the connection ended) and gives its buffer back; its failure is the connection's end,
            // which every call learns: observed, so it is not an unobserved task exception.
            _handedOff = null;
            _ = handedOff.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        while (_deferred.TryDequeue(out var entry))
        {
            if (entry.Buffer is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            if (entry.Sent is not null)
            {
                _flushedMarkers.Add(entry); // a marker, or a frame its owner may take back (never sent: it fails)
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
