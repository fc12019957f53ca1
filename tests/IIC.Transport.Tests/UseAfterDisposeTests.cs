using IIC.Transport;

namespace IIC.Transport.Tests;

/// <summary>
/// Every call on a channel whose window is unmapped (both ends disposed: this side's Dispose dropped the last owner)
/// ends in <see cref="ObjectDisposedException"/> or its documented no-throw answer; none may read the gone ring memory
/// (that would be an AccessViolationException, which kills the test host).
/// </summary>
public sealed class UseAfterDisposeTests
{
    private static IicChannel DisposedChannelWithUnmappedWindow()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        second.Send(new byte[16]); // something waits in first's incoming ring: a read of gone memory would find it
        second.Dispose();
        first.Dispose(); // the last owner: the window is unmapped now
        return first;
    }

    public static TheoryData<string> Calls() => new()
    {
        "Send", "SendWithToken", "TrySend", "TrySendTimeout", "TryClaim", "Receive", "ReceiveWithToken", "TryReceive",
        "TryReceiveTimeout", "Poll", "PollTimeout", "ReceiveAsync", "WaitToReceiveAsync", "AsStream", "AsDuplexPipe",
    };

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task A_call_after_Dispose_throws_ObjectDisposedException(string call)
    {
        var channel = DisposedChannelWithUnmappedWindow();
        var buffer = new byte[64];
        var handler = new CountingHandler();
        Func<Task> act = call switch
        {
            "Send" => () => { channel.Send(buffer); return Task.CompletedTask; },
            "SendWithToken" => () => { channel.Send(buffer, CancellationToken.None); return Task.CompletedTask; },
            "TrySend" => () => { channel.TrySend(buffer); return Task.CompletedTask; },
            "TrySendTimeout" => () => { channel.TrySend(buffer, TimeSpan.FromMilliseconds(1)); return Task.CompletedTask; },
            "TryClaim" => () => { channel.TryClaim(16, out _); return Task.CompletedTask; },
            "Receive" => () => { channel.Receive(buffer); return Task.CompletedTask; },
            "ReceiveWithToken" => () => { channel.Receive(buffer, CancellationToken.None); return Task.CompletedTask; },
            "TryReceive" => () => { channel.TryReceive(buffer, out _); return Task.CompletedTask; },
            "TryReceiveTimeout" => () => { channel.TryReceive(buffer, out _, TimeSpan.FromMilliseconds(1)); return Task.CompletedTask; },
            "Poll" => () => { channel.Poll(ref handler); return Task.CompletedTask; },
            "PollTimeout" => () => { channel.Poll(ref handler, 1, TimeSpan.FromMilliseconds(1)); return Task.CompletedTask; },
            "ReceiveAsync" => async () => await channel.ReceiveAsync(buffer),
            "WaitToReceiveAsync" => async () => await channel.WaitToReceiveAsync(),
            "AsStream" => () => { channel.AsStream(); return Task.CompletedTask; },
            "AsDuplexPipe" => () => { channel.AsDuplexPipe(); return Task.CompletedTask; },
            _ => throw new ArgumentOutOfRangeException(nameof(call), call, null),
        };
        await Assert.ThrowsAsync<ObjectDisposedException>(act);
        Assert.Equal(0, handler.Count);
    }

    private struct CountingHandler : IMessageHandler
    {
        public int Count;

        public void OnMessage(ReadOnlySpan<byte> message) => Count++;
    }
}
