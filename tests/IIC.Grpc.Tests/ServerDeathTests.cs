using System.Diagnostics;
using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>A server process killed in the middle of calls: the client's calls end with Unavailable promptly.</summary>
[Collection(TesterGroup.Name)]
public sealed class ServerDeathTests(TesterFixture fixture)
{
    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ServerKilledMidCall_ClientGetsUnavailablePromptly(string path)
    {
        using var server = fixture.StartServer($"doomed-{path}");
        using var channel = fixture.Open(server, path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var stream = client.ServerStream(new Request { Mode = "forever", Count = 1, Key = "doomed" });
        using var unary = client.UnaryAsync(new Request { Mode = "wait", Key = "doomed-unary" });
        Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None)); // mid-call: the handler runs

        var watch = Stopwatch.StartNew();
        server.Kill();
        var e = await Assert.ThrowsAsync<RpcException>(() => stream.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)));
        var unaryError = await Assert.ThrowsAsync<RpcException>(() => unary.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(20)));
        var elapsed = watch.Elapsed;
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal(StatusCode.Unavailable, unaryError.StatusCode);
        // "Promptly": bounded generously for a loaded 2-core box; speed itself is for benchmarks.
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"Unavailable took {elapsed.TotalSeconds:0.0} s after the kill.");
    }
}
