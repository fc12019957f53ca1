using System.Collections.Concurrent;
using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Handler modes that drive a response stream as a careless service would (tests/IIC.Grpc.Tests/ServerWriteMisuseTests.cs):
/// two writes at once, and a write after the handler returned. What each write gave is kept for the test to ask.
/// </summary>
public static class MisuseModes
{
    /// <summary>Response streams of handlers that returned, by key: written to later ("write-late").</summary>
    private static readonly ConcurrentDictionary<string, IServerStreamWriter<Reply>> s_kept = new();

    /// <summary>What a mode's writes gave, by key ("outcome?").</summary>
    public static ConcurrentDictionary<string, string> Outcomes { get; } = new();

    /// <summary>ServerStream "concurrent-writes": <paramref name="rounds"/> times, two writes of a large message from two threads at once.</summary>
    public static async Task ConcurrentWritesAsync(string key, int rounds, IServerStreamWriter<Reply> stream)
    {
        var payload = Payloads.Of(1024 * 1024);
        var written = 0;
        var refused = 0;
        var other = "";
        var index = 0;
        for (var round = 0; round < rounds; round++)
        {
            var results = await Task.WhenAll(
                Task.Run(() => TryWrite(stream, new Reply { Index = index++, Payload = payload })),
                Task.Run(() => TryWrite(stream, new Reply { Index = index++, Payload = payload }))).ConfigureAwait(false);
            foreach (var result in results)
            {
                switch (result)
                {
                    case null:
                        written++;
                        break;
                    case InvalidOperationException:
                        refused++;
                        break;
                    default:
                        other += result.GetType().Name + ": " + result.Message + "; ";
                        break;
                }
            }
        }
        Outcomes[key] = $"written={written} refused={refused} other={other}";
    }

    private static async Task<Exception?> TryWrite(IServerStreamWriter<Reply> stream, Reply reply)
    {
        try
        {
            await stream.WriteAsync(reply).ConfigureAwait(false);
            return null;
        }
#pragma warning disable CA1031 // the outcome is what the test asks about
        catch (Exception e)
        {
            return e;
        }
#pragma warning restore CA1031
    }

    /// <summary>ServerStream "write-after-return": keeps the stream and returns (the call ends OK with no message).</summary>
    public static void Keep(string key, IServerStreamWriter<Reply> stream) => s_kept[key] = stream;

    /// <summary>Unary "write-late": writes to the stream kept under the key, whose handler returned; says what that gave.</summary>
    public static async Task<Reply> WriteLateAsync(string key)
    {
        if (!s_kept.TryRemove(key, out var stream))
        {
            return new Reply { Text = "no stream kept under " + key };
        }
        var result = await TryWrite(stream, new Reply { Index = 1 }).ConfigureAwait(false);
        return new Reply { Text = result is null ? "accepted" : result.GetType().Name + ": " + result.Message };
    }

    /// <summary>
    /// ServerStream "write-token": a write with a live token of the handler's own (goes), then one with that token
    /// cancelled, which cancels the call as Grpc.AspNetCore resets the stream; each write's outcome is kept ("outcome?":
    /// "first=ok second=cancelled" where the second failed with OperationCanceledException) and the second's exception rethrown.
    /// </summary>
    public static async Task WriteWithCancelledTokenAsync(string key, IServerStreamWriter<Reply> stream)
    {
        using var source = new CancellationTokenSource();
        var first = await TryWriteWith(stream, new Reply { Index = 0 }, source.Token).ConfigureAwait(false);
        await source.CancelAsync().ConfigureAwait(false);
        var second = await TryWriteWith(stream, new Reply { Index = 1 }, source.Token).ConfigureAwait(false);
        Outcomes[key] = $"first={Name(first)} second={Name(second)}";
        if ((first ?? second) is { } thrown)
        {
            throw thrown;
        }

        static string Name(Exception? e) => e switch
        {
            null => "ok",
            OperationCanceledException => "cancelled",
            _ => e.GetType().Name,
        };
    }

    private static async Task<Exception?> TryWriteWith(IServerStreamWriter<Reply> stream, Reply reply, CancellationToken token)
    {
        try
        {
            await stream.WriteAsync(reply, token).ConfigureAwait(false);
            return null;
        }
#pragma warning disable CA1031 // the outcome is what the test asks about
        catch (Exception e)
        {
            return e;
        }
#pragma warning restore CA1031
    }
}
