using System.IO.Pipelines;

namespace IIC.Transport;

/// <summary>
/// The input pipe's reader scheduler while <see cref="IicPipeOptions.InlineHttp2Reads"/> applies: the thread pool, until
/// the connection is known to speak HTTP/2 with prior knowledge (its first bytes are the client preface), then inline on
/// the receive thread. Both HTTP/2 stacks that read an IICFast pipe hand everything past frame reading to their own
/// schedulers: Kestrel's <c>Http2Connection</c> copies the transport's input into its own pipe and parses frames on
/// the thread pool, so inline only that copy runs on the receive thread; SocketsHttpHandler's frame loop completes
/// each stream's waiters asynchronously, so no application code runs there. A thread-pool hop for our reader first
/// would be one more queued work item per message for nothing (round 8 measured one ring record per direction per
/// unary call, so this is a hop per call on each side). HTTP/1.x and TLS connections (other first bytes), where the
/// reader may be the application, keep the thread pool.
/// </summary>
internal sealed class Http2InlineReads : PipeScheduler
{
    private volatile bool _inline;

    /// <summary>The HTTP/2 client connection preface (RFC 9113 §3.4).</summary>
    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>Whether readers now continue inline.</summary>
    public bool IsInline => _inline;

    /// <summary>Switches to inline if <paramref name="firstBytes"/> (a connection's first bytes one way) begin with the preface.</summary>
    /// <returns>Whether it switched.</returns>
    public bool Observe(ReadOnlySpan<byte> firstBytes)
    {
        if (firstBytes.StartsWith(Preface))
        {
            _inline = true;
            return true;
        }
        return false;
    }

    /// <inheritdoc />
    public override void Schedule(Action<object?> action, object? state)
    {
        if (_inline)
        {
            action(state);
        }
        else
        {
            ThreadPool.Schedule(action, state);
        }
    }
}
