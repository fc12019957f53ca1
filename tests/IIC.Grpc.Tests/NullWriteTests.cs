using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A null request message is refused with ArgumentNullException before anything changes, as grpc-dotnet does (the same
/// test runs over HTTP/2): the call goes on. (The native path handed null to the marshaller and ended the call with
/// Internal "Error serializing message".)
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class NullWriteTests(TesterFixture fixture)
{
    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task Writing_null_on_a_request_stream_throws_ArgumentNullException_and_the_call_goes_on(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.Bidi();
        await Assert.ThrowsAsync<ArgumentNullException>(() => call.RequestStream.WriteAsync(null!));
        await call.RequestStream.WriteAsync(new Request { Text = "after" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal("after", call.ResponseStream.Current.Text);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }
}
