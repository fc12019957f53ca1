namespace IIC.Perf.Core;

/// <summary>Takes messages handed over in place (a span into the transport's own memory, valid only during the call).</summary>
internal interface IMessageConsumer
{
    /// <summary>Handles one message (the same shape as IIC.Hardware's IMessageHandler, so an adapter is one line).</summary>
    void OnMessage(ReadOnlySpan<byte> message);
}

/// <summary>
/// Optional on an <see cref="IMessageEndpoint"/>: zero-copy receive. The consumer is a struct type parameter so the
/// transport's loop is compiled for it and the per-message call inlines.
/// </summary>
internal interface IInPlaceReceiver
{
    /// <summary>
    /// Waits until at least one message is there, then hands the consumer up to <paramref name="limit"/> messages that
    /// are already available; returns how many it handed over.
    /// </summary>
    int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer;
}
