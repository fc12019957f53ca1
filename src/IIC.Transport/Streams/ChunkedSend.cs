using System.Buffers;

namespace IIC.Transport;

/// <summary>
/// Byte streams over a message channel: the one place that cuts bytes into records of at most
/// <see cref="IicChannel.MaxClaimLength"/>. A record that size is never fragmented, so the receiving side hands each one out
/// in place (no reassembly buffer) and a stream's bytes can be cut anywhere.
/// </summary>
internal static class ChunkedSend
{
    /// <summary>
    /// Sends <paramref name="bytes"/> as one record claimed in place when it fits (one copy, one doorbell at most), else in
    /// records of the largest size, waiting while the ring is full.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while the ring was full.</exception>
    public static void Send(IicChannel channel, in ReadOnlySequence<byte> bytes, CancellationToken cancellationToken)
    {
        var chunk = channel.MaxClaimLength;
        if (bytes.Length <= chunk && channel.TryClaim((int)bytes.Length, out var claim))
        {
            bytes.CopyTo(claim.Span);
            claim.Commit();
            return;
        }
        foreach (var segment in bytes)
        {
            Send(channel, segment.Span, cancellationToken);
        }
    }

    /// <summary>Sends <paramref name="bytes"/> in records of at most <see cref="IicChannel.MaxClaimLength"/>, waiting while the ring is full.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while the ring was full.</exception>
    public static void Send(IicChannel channel, ReadOnlySpan<byte> bytes, CancellationToken cancellationToken)
    {
        var chunk = channel.MaxClaimLength;
        while (!bytes.IsEmpty)
        {
            var record = bytes[..Math.Min(chunk, bytes.Length)];
            if (!channel.TrySend(record))
            {
                channel.Send(record, cancellationToken);
            }
            bytes = bytes[record.Length..];
        }
    }

    /// <summary>Sends as many records of <paramref name="bytes"/> as the ring takes now, never waiting.</summary>
    /// <returns>The number of bytes sent (a whole multiple of records; all of them when everything fitted).</returns>
    public static int TrySendNow(IicChannel channel, ReadOnlySpan<byte> bytes)
    {
        var chunk = channel.MaxClaimLength;
        var sent = 0;
        while (sent < bytes.Length)
        {
            var record = bytes.Slice(sent, Math.Min(chunk, bytes.Length - sent));
            if (!channel.TrySend(record))
            {
                break;
            }
            sent += record.Length;
        }
        return sent;
    }
}
