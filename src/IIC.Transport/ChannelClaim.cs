using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Room claimed in the outgoing ring for one message, written in place (zero copy). Write the payload into
/// <see cref="Span"/>, then <see cref="Commit"/> to publish it or <see cref="Abort"/> to drop it. Until then
/// the receiver waits at this message: commit or abort promptly.
/// </summary>
public ref struct ChannelClaim
{
    private readonly IicChannel? _channel;
    private readonly long _generation;
    private bool _done;

    internal ChannelClaim(IicChannel channel, Span<byte> span, long generation)
    {
        _channel = channel;
        Span = span;
        _generation = generation;
        _done = false;
    }

    /// <summary>The claimed bytes, inside shared memory.</summary>
    public Span<byte> Span { get; }

    /// <summary>Publishes the message.</summary>
    /// <exception cref="InvalidOperationException">The claim was already committed or aborted, or is default.</exception>
    public void Commit()
    {
        Finish().CommitClaim(_generation);
    }

    /// <summary>Drops the message: the receiver skips it.</summary>
    /// <exception cref="InvalidOperationException">The claim was already committed or aborted, or is default.</exception>
    public void Abort()
    {
        Finish().AbortClaim(_generation);
    }

    private IicChannel Finish()
    {
        if (_channel is null || _done)
        {
            ThrowHelper.ClaimFinished();
        }
        _done = true;
        return _channel;
    }
}
