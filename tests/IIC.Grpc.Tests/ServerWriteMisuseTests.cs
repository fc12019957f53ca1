using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A service writing its response stream carelessly gets what Grpc.AspNetCore gives it (the same test runs over HTTP/2
/// for comparison): a second write while one is in progress is refused with InvalidOperationException (it does not put
/// its chunks between the first's, which the client would take for a broken peer, closing the connection under every
/// call on it), and a write after the handler returned is refused with InvalidOperationException, not accepted and
/// silently dropped.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ServerWriteMisuseTests(TesterFixture fixture)
{
    private const int Rounds = 20;

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task Two_writes_at_once_on_a_response_stream_are_refused_or_whole_and_the_call_ends_ok(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = $"concurrent-writes-{path}-{Guid.NewGuid():N}";
        using var call = client.ServerStream(new Request { Mode = "concurrent-writes", Key = key, Count = Rounds });
        var received = 0;
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                Assert.Equal(1024 * 1024, call.ResponseStream.Current.Payload.Length);
                received++;
            }
        }
        catch (RpcException e)
        {
            Assert.Fail($"after {received} whole responses the stream failed: {e.Status} (two writes' chunks interleaved?)");
        }
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        var outcome = (await client.UnaryAsync(new Request { Mode = "outcome?", Key = key })).Text;
        Assert.Equal($"written={received} refused={(2 * Rounds) - received} other=", outcome);
    }

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task A_write_after_the_handler_returned_is_refused_with_InvalidOperationException(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = $"write-after-return-{path}-{Guid.NewGuid():N}";
        using (var call = client.ServerStream(new Request { Mode = "write-after-return", Key = key }))
        {
            Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None)); // the trailers came: the call ended
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        }
        var outcome = (await client.UnaryAsync(new Request { Mode = "write-late", Key = key })).Text;
        Assert.StartsWith(nameof(InvalidOperationException), outcome, StringComparison.Ordinal);
    }
}
