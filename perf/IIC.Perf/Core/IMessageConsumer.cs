using IIC.Transport;

namespace IIC.Perf.Core;

/// <summary>Takes messages handed over in place (a span into the transport's own memory, valid only during the call).</summary>
internal interface IMessageConsumer
{
    /// <summary>Handles one message (the same shape as IIC.Hardware's IMessageHandler, so an adapter is one line).</summary>
    void OnMessage(ReadOnlySpan<byte> message);
}
