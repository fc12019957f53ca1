using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Copies each message the channel hands out in place (zero copy out of the ring) into the pipe's pooled buffers: the
/// one copy on the receive path, with no allocation and no reassembly (large messages span several pipe segments).
/// </summary>
internal readonly struct ChannelToPipe(PipeWriter writer) : IMessageHandler
{
    public void OnMessage(ReadOnlySpan<byte> message)
    {
        while (!message.IsEmpty)
        {
            var span = writer.GetSpan();
            var length = Math.Min(span.Length, message.Length);
            message[..length].CopyTo(span);
            writer.Advance(length);
            message = message[length..];
        }
    }
}
