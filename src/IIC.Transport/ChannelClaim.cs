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
    private readonly long _generation; // the channel's claim number: only the open claim's may finish (IicChannel.CheckClaim)

    internal ChannelClaim(IicChannel channel, Span<byte> span, long generation)
    {
        _channel = channel;
        Span = span;
        _generation = generation;
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

    /// <summary>
    /// The channel, for a claim that was made. Whether it is still open is the channel's to say, once: its generation is
    /// the channel's latest and the endpoint holds a claim open (a finished claim, this one or a copy of it, fails that,
    /// round 12: no flag of its own to load and store on every commit).
    /// </summary>
    private readonly IicChannel Finish()
    {
        if (_channel is null)
        {
            ThrowHelper.ClaimFinished();
        }
        return _channel;
    }
}
