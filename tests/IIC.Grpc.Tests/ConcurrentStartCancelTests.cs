using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Many threads starting and ending calls at once on one invoker (one connection): calls of every shape, ended every way
/// (a token cancelled at once, from another thread, before the start; Dispose racing a MoveNext; a deadline racing the
/// reply; the server's trailers). Once every call has ended, the client's call registry is empty: no ended call is left
/// registered (a leak per call, and a slot its id's low bits can never use again), and the connection serves on.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ConcurrentStartCancelTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Many_threads_starting_and_cancelling_calls_on_one_invoker_leave_no_call_registered()
    {
        using var server = fixture.StartServer("start-cancel-storm");
        using var channel = fixture.Connect(server.Address("iic://"));
        var invoker = Assert.IsType<IicCallInvoker>(channel.CallInvoker);
        var client = new Tester.TesterClient(invoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text);
        const int Workers = 8;
        const int CallsPerWorker = 1500;
        using var go = new ManualResetEventSlim(false);
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Factory.StartNew(
            () =>
            {
                go.Wait();
                return Work(client, w, CallsPerWorker);
            },
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToArray();
        go.Set();
        var all = Task.WhenAll(workers);
        var failure = await Record.ExceptionAsync(() => all.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.True(failure is null, $"{failure}{Environment.NewLine}server output:{Environment.NewLine}{server.Output}");
        Assert.Equal(0, invoker.CallsInFlight);
        var after = await Record.ExceptionAsync(async () => Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text));
        Assert.True(after is null, $"{after}{Environment.NewLine}server output:{Environment.NewLine}{server.Output}");
        Assert.Equal(0, invoker.CallsInFlight);
    }

    private static async Task Work(Tester.TesterClient client, int worker, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            var key = $"storm-{worker}-{i}-{Guid.NewGuid():N}";
            switch ((i + worker) % 6)
            {
                case 0:
                {
                    // Cancelled by this thread right after the start.
                    using var source = new CancellationTokenSource();
                    var call = client.UnaryAsync(new Request { Mode = "wait", Key = key }, cancellationToken: source.Token);
                    await source.CancelAsync();
                    await Ended(call.ResponseAsync);
                    call.Dispose();
                    break;
                }
                case 1:
                {
                    // Cancelled from another thread while it starts.
                    using var source = new CancellationTokenSource();
                    var cancel = Task.Run(source.Cancel);
                    var call = client.UnaryAsync(new Request { Mode = "wait", Key = key }, cancellationToken: source.Token);
                    await cancel;
                    await Ended(call.ResponseAsync);
                    break;
                }
                case 2:
                {
                    // Already cancelled: never sent, never registered.
                    var call = client.UnaryAsync(new Request { Text = "never" }, cancellationToken: new CancellationToken(canceled: true));
                    await Ended(call.ResponseAsync);
                    break;
                }
                case 3:
                {
                    // A server stream disposed from another thread while a MoveNext waits or takes a reply.
                    var call = client.ServerStream(new Request { Count = 1000, Key = key }, deadline: DateTime.UtcNow + s_timeout);
                    var next = call.ResponseStream.MoveNext(CancellationToken.None);
                    await Task.Run(call.Dispose);
                    await Ended(next);
                    break;
                }
                case 4:
                {
                    // A bidi call disposed right after its first write, from this thread.
                    var call = client.Bidi(deadline: DateTime.UtcNow + s_timeout);
                    await Ended(call.RequestStream.WriteAsync(new Request { Text = "one" }));
                    call.Dispose();
                    // A read after Dispose: ObjectDisposedException, thrown, as grpc-dotnet's (HttpContentClientStreamReader.MoveNext).
                    await Assert.ThrowsAsync<ObjectDisposedException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
                    break;
                }
                default:
                {
                    // A deadline racing the reply (either may win), or a reply.
                    var call = client.UnaryAsync(new Request { Text = "racing" }, deadline: DateTime.UtcNow + TimeSpan.FromTicks(10 * (i % 50)));
                    await Ended(call.ResponseAsync);
                    break;
                }
            }
        }
    }

    /// <summary>Waits for the task's end, whatever it was: a result, or the call's end (its status) as the exception.</summary>
    private static async Task Ended(Task task)
    {
        try
        {
            await task.WaitAsync(s_timeout);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Cancelled or StatusCode.DeadlineExceeded)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
