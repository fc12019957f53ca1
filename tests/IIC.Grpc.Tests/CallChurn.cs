using System.Collections.Concurrent;
using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Unary calls started and ended from several threads at once, in four kinds that take turns: a plain call that must
/// succeed, and three calls to a gate that never opens, ended by a token cancelled at once, by a deadline of 0-2 ms, and
/// by Dispose. Shared by the call limit's and the pool's churn tests (a slot or a queue entry must never outlive its call).
/// </summary>
internal static class CallChurn
{
    /// <summary>The calls of each thread (a multiple of 4: a quarter of them are the plain calls).</summary>
    public const int CallsPerThread = 160;

    /// <summary>Runs <paramref name="threads"/> threads of <see cref="CallsPerThread"/> calls each; returns every call's status.</summary>
    public static async Task<List<StatusCode>> RunAsync(Tester.TesterClient client, string gateKey, int threads, TimeSpan timeout)
    {
        var outcomes = new ConcurrentBag<StatusCode>();
        var workers = Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
        {
            var pending = new List<(AsyncUnaryCall<Reply> Call, CancellationTokenSource? Source)>();
            for (var i = 0; i < CallsPerThread; i++)
            {
                CancellationTokenSource? source = null;
                AsyncUnaryCall<Reply> call;
                switch (i % 4)
                {
                    case 0:
                        call = client.UnaryAsync(new Request { Text = "ok" }, deadline: DateTime.UtcNow + timeout);
                        break;
                    case 1:
                        source = new CancellationTokenSource();
                        call = client.UnaryAsync(new Request { Mode = "gate", Key = gateKey }, deadline: DateTime.UtcNow + timeout, cancellationToken: source.Token);
                        source.Cancel();
                        break;
                    case 2:
                        call = client.UnaryAsync(new Request { Mode = "gate", Key = gateKey }, deadline: DateTime.UtcNow + TimeSpan.FromMilliseconds(i % 3));
                        break;
                    default:
                        call = client.UnaryAsync(new Request { Mode = "gate", Key = gateKey }, deadline: DateTime.UtcNow + timeout);
                        call.Dispose();
                        break;
                }
                pending.Add((call, source));
                if (pending.Count >= 8)
                {
                    await DrainAsync(pending, outcomes, timeout);
                }
            }
            await DrainAsync(pending, outcomes, timeout);
        })).ToList();
        await Task.WhenAll(workers).WaitAsync(timeout + timeout);
        return [.. outcomes];
    }

    private static async Task DrainAsync(List<(AsyncUnaryCall<Reply> Call, CancellationTokenSource? Source)> pending, ConcurrentBag<StatusCode> outcomes, TimeSpan timeout)
    {
        foreach (var (call, source) in pending)
        {
            try
            {
                await call.ResponseAsync.WaitAsync(timeout);
                outcomes.Add(StatusCode.OK);
            }
            catch (RpcException e)
            {
                outcomes.Add(e.StatusCode);
            }
            call.Dispose();
            source?.Dispose();
        }
        pending.Clear();
    }
}
