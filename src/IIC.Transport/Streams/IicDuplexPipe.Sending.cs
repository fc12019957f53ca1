using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

// IicDuplexPipe, sending: the output pipe's reader, scheduled inline, so each flush publishes on the flushing thread. When
// the peer's ring is full the loop awaits room (RoomWait, completed by the RoomWaiter thread) instead of blocking: the
// flush returns, and waits (asynchronously, cancellable) only once OutputPauseThreshold bytes are unsent.
internal sealed partial class IicDuplexPipe
{
    // Bytes a DuplexPipeStream put into the output pipe that the send loop has not sent yet (the loop subtracts all it
    // sends, so a writer of Output other than the stream drives it below 0). Only at exactly 0 may the stream write
    // straight into the ring: nothing is queued before its bytes and the loop touches the channel no more.
    private long _queuedBytes;
    private long _directWrites;
    private int _sendEnded; // the send loop has ended: nothing is sent, so nothing counts as queued (_queuedBytes stays 0)

    /// <summary>Writes that went straight into the ring from the writer's thread (<see cref="TrySendDirect"/>; tests, diagnostics).</summary>
    internal long DirectWrites => Volatile.Read(ref _directWrites);

    /// <summary>Bytes counted as queued in the output pipe and not yet sent (tests, diagnostics).</summary>
    internal long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>
    /// Sends <paramref name="bytes"/> straight into the ring on the calling thread, as Kestrel's socket transport writes to
    /// its socket when its send queue is empty: no copy into the output pipe, no inline reader turn. Only for the one
    /// writer of a <see cref="DuplexPipeStream"/>, and only while nothing it queued earlier is still unsent (ordering);
    /// whatever does not fit now, and everything after an error, goes the usual way (<see cref="QueueForSend"/> and
    /// <see cref="Output"/>), which waits for room and reports the channel's end exactly as a flush does.
    /// </summary>
    /// <returns>The bytes sent (whole records; all of them when everything fitted).</returns>
    internal int TrySendDirect(ReadOnlySpan<byte> bytes)
    {
        if (Volatile.Read(ref _queuedBytes) != 0 || Volatile.Read(ref _started) == 0 || Volatile.Read(ref _disposed) != 0 || _stopSending.IsCancellationRequested)
        {
            return 0;
        }
        int sent;
        try
        {
            sent = ChunkedSend.TrySendNow(_channel, bytes);
        }
        catch (Exception e) when (e is IicChannelClosedException or PeerDeadException or RingFaultException or ObjectDisposedException)
        {
            return 0; // the send loop meets the same end and reports it through the pipe
        }
        if (sent > 0)
        {
            _directWrites++; // the stream's one writer only
            _replySpin?.OnFlushed();
        }
        return sent;
    }

    /// <summary>
    /// Counts bytes a stream is about to write into <see cref="Output"/> (before it writes them); none once the send loop
    /// has ended (the write then fails: nothing will send those bytes, so they are not queued).
    /// </summary>
    internal void QueueForSend(int length)
    {
        Interlocked.Add(ref _queuedBytes, length); // full fence: this check or the send loop's end sees the other's write
        if (Volatile.Read(ref _sendEnded) != 0)
        {
            Interlocked.Exchange(ref _queuedBytes, 0); // the loop has ended: whichever of us zeroes last, the count is 0
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        Exception? unexpected = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var rest = ChunkedSend.TrySendNow(_channel, buffer);
                while (!rest.IsEmpty)
                {
                    // The peer's ring is full: this await releases the flushing thread; the bytes stay in the pipe
                    // (counted against OutputPauseThreshold) until the peer's reader returns room.
                    await _roomWait.WaitAsync(ChunkedSend.NextRecordLength(_channel, rest)).ConfigureAwait(false);
                    rest = ChunkedSend.TrySendNow(_channel, rest);
                }
                if (!buffer.IsEmpty)
                {
                    _replySpin?.OnFlushed(); // a reply is owed now: a parked receive thread wakes to spin for it
                }
                var sent = buffer.Length; // read before AdvanceTo: it returns the segments to the pool
                reader.AdvanceTo(buffer.End);
                // After the last channel operation for these bytes (full fence): a stream that reads 0 sends after them.
                Interlocked.Add(ref _queuedBytes, -sent);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // aborted, or the drain timed out: what was not sent is dropped
            error = Translate(new IicChannelClosedException());
        }
        catch (Exception e) when (e is IicChannelClosedException or PeerDeadException or RingFaultException or ObjectDisposedException)
        {
            error = Translate(e);
            SignalChannelEnded();
        }
#pragma warning disable CA1031 // Whatever else stops the loop must end the output, or the application's flush never ends.
        catch (Exception e)
        {
            // Not the channel's end: a bug or a misuse (another thread sending on a SingleWriter channel). Before round 24
            // it escaped into this task, and the output pipe's reader was never completed: flushes succeeded without
            // sending, then waited for ever once OutputPauseThreshold bytes were unsent (Kestrel hung), and DisposeAsync
            // threw it. Now it ends the connection as Kestrel's SocketConnection.DoSend ends one at an unexpected error.
            unexpected = e;
            EndAfterUnexpectedSendError(e);
        }
#pragma warning restore CA1031
        // The connection was reset (Reset: a refused message, bytes nobody will read): the application's writes and
        // flushes fail with that, not with "the peer closed", and what it flushed but was not sent yet is reported dropped by it.
        error = Volatile.Read(ref _resetError) ?? error;
        // A Kestrel connection's flushes return IsCompleted instead (EndOutputWithoutError), as SocketConnection's do; an
        // unexpected error reaches them untranslated in every case, as SocketConnection's Output.Complete(unexpectedError).
        await reader.CompleteAsync(unexpected ?? (EndOutputWithoutError ? null : error)).ConfigureAwait(false);
        // Nothing will be sent any more, so nothing is queued: what the loop held or was flushed behind it was dropped
        // (reported by the error above), and a stream's later write counts nothing (QueueForSend). Before round 23 those
        // bytes stayed counted for good, and every write after a reset added its length.
        Interlocked.Exchange(ref _sendEnded, 1); // full fence: this exchange or QueueForSend's check sees the other's write
        Interlocked.Exchange(ref _queuedBytes, 0);
    }

    /// <summary>
    /// The send loop stopped at <paramref name="error"/>, which is not the channel's end (<see cref="SendLoopAsync"/>):
    /// it is reported (<see cref="UnexpectedError"/> with <see cref="PipeDirection.Send"/>: a Kestrel connection logs it), and the connection is closed as
    /// <see cref="Abort"/> does, so the peer sees the end instead of waiting for bytes that will never come, the receive
    /// thread exits and <see cref="ChannelEnded"/> is raised. Kestrel's SocketConnection does the same: it logs
    /// ConnectionError, shuts the socket down and completes its output with the error.
    /// </summary>
    private void EndAfterUnexpectedSendError(Exception error)
    {
        try
        {
            UnexpectedError?.Invoke(error, PipeDirection.Send);
        }
        finally
        {
            Abort();
            SignalChannelEnded();
        }
    }
}
