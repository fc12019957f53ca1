using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

// IicDuplexPipe, sending: the output pipe's reader, scheduled inline, so each flush publishes on the flushing thread. When
// the peer's ring is full the loop awaits room (RoomWait, completed by the RoomWaiter thread) instead of blocking: the
// flush returns, and waits (asynchronously, cancellable) only once OutputPauseThreshold bytes are unsent.
internal sealed partial class IicDuplexPipe
{
    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
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
                reader.AdvanceTo(buffer.End);
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
        await reader.CompleteAsync(error).ConfigureAwait(false);
    }
}
