using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Copies each message the channel hands out in place (zero copy out of the ring) into the pipe's pooled buffers: the
/// one copy on the receive path, with no allocation and no reassembly (large messages span several pipe segments).
/// Counts the bytes it copied (<see cref="Bytes"/>): what a reset reports when nobody will read them.
/// </summary>
internal struct ChannelToPipe(PipeWriter writer, IicDuplexPipe? firstRecordObserver = null) : IMessageHandler
{
    private IicDuplexPipe? _firstRecordObserver = firstRecordObserver;

    /// <summary>The bytes copied into the pipe by this handler (one poll's batch).</summary>
    public long Bytes { get; private set; }

    public void OnMessage(ReadOnlySpan<byte> message)
    {
        if (_firstRecordObserver is { } observer)
        {
            _firstRecordObserver = null;
            observer.ObserveFirstRecord(message); // before the flush that schedules the reader
        }
        Bytes += message.Length;
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
