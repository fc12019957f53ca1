using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A deadline far away is a deadline like any other, as in grpc-dotnet: 60 days out (more than the ~49.7 days a
/// System.Threading.Timer takes at once) or a tick before DateTime.MaxValue. The call completes normally, the server's
/// handler sees the deadline, and the connection stays up for the next call. (The native path armed a Timer with it,
/// which threw ArgumentOutOfRangeException out of the call on the client, and on the server's reader thread.)
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class FarDeadlineTests(TesterFixture fixture)
{
    public static TheoryData<string, int> Cases => new()
    {
        { "native", 0 }, { "native", 1 }, { "http2-tcp", 0 }, { "http2-tcp", 1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_call_with_a_deadline_months_or_millennia_away_completes_and_the_connection_stays_up(string path, int which)
    {
        var deadline = which == 0 ? DateTime.UtcNow.AddDays(60) : DateTime.SpecifyKind(DateTime.MaxValue.AddTicks(-1), DateTimeKind.Utc);
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var reply = await client.UnaryAsync(new Request { Text = "far" }, deadline: deadline);
        Assert.Equal("far", reply.Text);
        using (var stream = client.Bidi(deadline: deadline))
        {
            await stream.RequestStream.WriteAsync(new Request { Text = "b" });
            Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal("b", stream.ResponseStream.Current.Text);
            await stream.RequestStream.CompleteAsync();
            Assert.False(await stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.OK, stream.GetStatus().StatusCode);
        }
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" })).Text); // the connection survived
    }
}
