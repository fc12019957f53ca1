namespace IIC.Perf.Core;

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
