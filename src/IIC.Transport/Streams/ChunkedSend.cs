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
    /// Sends as many full records of <paramref name="bytes"/> as the ring takes now, each claimed in place straight from
    /// the sequence's segments (a record may span several): one flush that fits is one record, one copy, one doorbell at
    /// most. Never waits.
    /// </summary>
    /// <returns>What did not fit (empty when everything was sent).</returns>
    public static ReadOnlySequence<byte> TrySendNow(IicChannel channel, in ReadOnlySequence<byte> bytes)
    {
        var chunk = channel.MaxClaimLength;
        var rest = bytes;
        while (!rest.IsEmpty)
        {
            var length = (int)Math.Min(chunk, rest.Length);
            if (!channel.TryClaim(length, out var claim))
            {
                break;
            }
            rest.Slice(0, length).CopyTo(claim.Span);
            claim.Commit();
            rest = rest.Slice(length);
        }
        return rest;
    }

    /// <summary>The length of the next record <see cref="TrySendNow(IicChannel, in ReadOnlySequence{byte})"/> would claim for <paramref name="rest"/>.</summary>
    public static int NextRecordLength(IicChannel channel, in ReadOnlySequence<byte> rest) => (int)Math.Min(channel.MaxClaimLength, rest.Length);

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
