using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

// IicDuplexPipe, receiving: the dedicated thread that moves messages from the ring into the input pipe.
internal sealed partial class IicDuplexPipe
{
    private long _receiveBatches;

    private void ReceiveLoop()
    {
        var writer = _input.Writer;
        Exception? error = null;
        Exception? unexpected = null;
        // The spin-for-reply policy reads the ring outside any receive call (IsReceiveReady): keep the window mapped while
        // this thread runs, whatever the channel does meanwhile (as the async dispatcher does for the rings it polls).
        var mapped = false;
        var awaitingFirstRecord = DetectHttp2OnReceive && _http2InlineReads is not null;
        try
        {
            if (_replySpin is not null)
            {
                _channel.Endpoint.Window.Memory.DangerousAddRef(ref mapped);
            }
            while (true)
            {
                var handler = new ChannelToPipe(writer, awaitingFirstRecord ? this : null);
                int received;
                try
                {
                    received = _channel.Poll(ref handler, 64);
                }
                catch (IicChannelClosedException e) when (!e.PeerReset)
                {
                    break; // the peer closed and everything it sent is in the pipe
                }
                if (received > 0)
                {
                    awaitingFirstRecord = false;
                    _receiveBatches++; // this thread only; read by the statistics at disposal
                    _replySpin?.OnReceived(); // before the flush: an inline reader may flush the reply at once
                    // Inline writer scheduling: with a free pipe this returns completed after the reader's continuation
                    // was scheduled (or ran, with an inline application scheduler). Paused by back pressure, this thread
                    // waits: it is the pipe's own, and while it waits the ring fills and the peer's sends wait too.
                    var flush = writer.FlushAsync();
                    var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                    if (result.IsCompleted)
                    {
                        // The application completed the input (or disposal did): these bytes and the ones behind them
                        // will never be read. Round 22 stopped here and said nothing, so the peer's sends waited for room
                        // until this side was disposed; now the connection is reset, as TCP resets one closed with
                        // unread data (ResetUnread), and the peer's send ends at once.
                        ResetUnread(handler.Bytes);
                        break;
                    }
                    if (result.IsCanceled)
                    {
                        break; // disposal stopped us
                    }
                    continue;
                }
                if (Volatile.Read(ref _disposed) != 0 || _channel.IsDisposed)
                {
                    break;
                }
                if (_replySpin is { } spin)
                {
                    // Spin only while the peer owes a reply to our last flush; else park, woken by the peer's doorbell
                    // or by our own next flush (which makes a reply owed).
                    if (spin.SpinForReply(_channel.Endpoint) || !spin.ShouldPark())
                    {
                        continue;
                    }
                    try
                    {
                        _channel.WaitToReceive(Native.Deadline.Infinite, spin.WakeRequest);
                    }
                    finally
                    {
                        spin.Unparked();
                    }
                    continue;
                }
                // Wait with the channel's Waiter (its strategy: spin, park or adaptive); a close, death or this side's
                // Dispose makes the wait return.
                _channel.WaitToReceive(Native.Deadline.Infinite);
            }
        }
        catch (ObjectDisposedException) when (_channel.IsDisposed)
        {
            // this side closed (Dispose or Abort): not an error of the peer
        }
        catch (RingFaultException e)
        {
            // The ring broke its protocol: the peer is broken or hostile, and a scribble found at one record may have changed
            // the payloads before it, which no check can see. The reads fail at once (as before round 25b), so the
            // application stops acting on bytes from that peer; it is told, so nothing is lost silently.
            error = Translate(e);
        }
        catch (IicException e) when (e is PeerDeadException or IicChannelClosedException { PeerReset: true })
        {
            // The peer reset the connection (round 25) or died (round 25b): not a clean end. Everything it published is in
            // the pipe (the channel drains the ring before it reports either); as at a refusal, the reads hand all of it
            // out and then fail with the end (a pipe completed with it would throw at once and lose the bytes not read).
            _inputReader.Defer(e);
        }
        catch (ReceiveLimitExceededException e)
        {
            // A gap in the byte stream: nothing after it may reach the reader. Completed normally, the input pipe still
            // hands out every byte before it; the reader throws the refusal after those (a pipe completed with the error
            // would throw at once and lose them) and then resets the connection (Reset); an application that
            // completed the input will never read it, so Defer resets at once.
            _inputReader.Defer(e);
        }
#pragma warning disable CA1031 // The receive thread must not take the process down: whatever ends it goes to the reader.
        catch (Exception e)
        {
            // Not the channel's end: a bug or a misuse (another thread receiving on a SingleReader channel). Before round 25
            // the input was completed with it and nothing else: nobody heard of it but a reader, and the channel stayed
            // open, so the peer's sends filled a ring nobody read and then waited for room until this side was disposed.
            error = e;
            unexpected = e;
        }
#pragma warning restore CA1031
        if (mapped)
        {
            _channel.Endpoint.Window.Memory.DangerousRelease();
        }
        _replySpin?.Dispose();
        try
        {
            if (unexpected is not null)
            {
                EndAfterUnexpectedReceiveError(unexpected);
            }
            writer.Complete(error);
        }
        finally
        {
            // Whatever ended it (the peer's end, a refusal, a reset, this side's Abort or disposal): Kestrel's socket
            // transport fires ConnectionClosed whenever its receive loop ends.
            SignalChannelEnded();
            _receiveEnded.TrySetResult();
        }
    }

    /// <summary>
    /// The receive thread stopped at <paramref name="error"/>, which is not the channel's end: it is reported
    /// (<see cref="UnexpectedError"/> with <see cref="PipeDirection.Receive"/>: a Kestrel connection logs it), and the
    /// connection is reset (<see cref="Reset"/>, untranslated: as the input, the output fails with the exception itself,
    /// or returns IsCompleted with <see cref="EndOutputWithoutError"/>), so the peer's sends end with
    /// <see cref="IicChannelClosedException"/> instead of waiting for room in a ring nobody reads any more, and
    /// <see cref="ChannelEnded"/> is raised. Kestrel's SocketConnection.DoReceive logs an unexpected receive error
    /// (ConnectionError), completes its input with it and fires ConnectionClosed, after which Kestrel aborts the connection
    /// and the socket closes; the reset does that close at once, as the send side's unexpected error does.
    /// </summary>
    private void EndAfterUnexpectedReceiveError(Exception error)
    {
        try
        {
            UnexpectedError?.Invoke(error, PipeDirection.Receive);
        }
        finally
        {
            Reset(error);
        }
    }
}
