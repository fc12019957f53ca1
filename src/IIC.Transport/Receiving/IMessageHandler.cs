namespace IIC.Transport;

/// <summary>
/// Receives messages from a zero-copy poll. Implement it on a struct so the poll loop is specialised for the
/// handler and nothing is allocated per message.
/// </summary>
public interface IMessageHandler
{
    /// <summary>Handles one message. The span points into shared memory and is valid only during the call.</summary>
    void OnMessage(ReadOnlySpan<byte> message);
}

/// <summary>Adapts a <see cref="System.Buffers.ReadOnlySpanAction{T, TArg}"/> with state to <see cref="IMessageHandler"/>.</summary>
/// <typeparam name="TState">The state passed to every call.</typeparam>
internal readonly struct DelegateMessageHandler<TState> : IMessageHandler
{
    private readonly System.Buffers.ReadOnlySpanAction<byte, TState> _handler;
    private readonly TState _state;

    /// <summary>Wraps <paramref name="handler"/> and <paramref name="state"/>.</summary>
    public DelegateMessageHandler(System.Buffers.ReadOnlySpanAction<byte, TState> handler, TState state)
    {
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _state = state;
    }

    /// <inheritdoc />
    public void OnMessage(ReadOnlySpan<byte> message) => _handler(message, _state);
}
