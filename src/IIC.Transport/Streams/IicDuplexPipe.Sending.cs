using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

// IicDuplexPipe, sending: the output pipe's reader, scheduled inline, so each flush publishes on the flushing thread.
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
                if (!buffer.IsEmpty)
                {
                    // Waits only while the peer's ring is full (then it holds the flushing thread, as a blocking send would).
                    ChunkedSend.Send(_channel, buffer, _stopSending.Token);
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
