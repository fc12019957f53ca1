using System.Globalization;
using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>The peer of the tests that tell a reset from a clean close across processes (round 25).</summary>
internal static class ResetScenarios
{
    /// <summary>
    /// Connects, opens a duplex pipe (args[4] "pipe") or a stream ("stream") over its channel, sends args[5] bytes, prints
    /// "connected", then reads until the end and prints how its reads ended: "ended clean after BYTES" (the parent closed
    /// cleanly) or "failed after BYTES: TYPE reset=TRUE|FALSE" (an IicChannelClosedException's PeerReset).
    /// </summary>
    [Scenario("reset-watcher")]
    private static int ResetWatcher(string[] args)
    {
        var size = int.Parse(args[5], CultureInfo.InvariantCulture);
        using var partition = Partition.Attach(args[0], "child-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        var channel = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) });
        Console.WriteLine(args[4] == "pipe" ? WatchPipe(channel, size) : WatchStream(channel, size));
        return 0;
    }

    /// <summary>
    /// Connects, opens a duplex pipe over its channel, prints "connected", reads the parent's first bytes and then, with
    /// args[4] "reset", completes the input without consuming them (the pipe resets the connection) or, with "clean",
    /// consumes them and disposes the pipe (a clean close); prints "ended" and waits for "exit".
    /// </summary>
    [Scenario("resetter")]
    private static int Resetter(string[] args)
    {
        using var partition = Partition.Attach(args[0], "child-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        var channel = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) });
        var pipe = channel.AsDuplexPipe();
        Console.WriteLine("connected");
        var result = pipe.Input.ReadAsync().AsTask().GetAwaiter().GetResult();
        if (args[4] == "reset")
        {
            pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            pipe.Input.Complete(); // bytes unread: the pipe resets the connection (and closes the channel) before this returns
        }
        else
        {
            pipe.Input.AdvanceTo(result.Buffer.End);
            ((IAsyncDisposable)pipe).DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        Console.WriteLine("ended");
        Console.ReadLine(); // "exit": the process stays alive, so the parent's send sees a close, not a death
        ((IAsyncDisposable)pipe).DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }

    private static string WatchPipe(IicChannel channel, int size)
    {
        var pipe = channel.AsDuplexPipe();
        pipe.Output.WriteAsync(new byte[size]).AsTask().GetAwaiter().GetResult();
        Console.WriteLine("connected");
        long received = 0;
        try
        {
            while (true)
            {
                var result = pipe.Input.ReadAsync().AsTask().GetAwaiter().GetResult();
                received += result.Buffer.Length;
                pipe.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"ended clean after {received}");
                }
            }
        }
        catch (Exception e)
        {
            return Failed(received, e);
        }
        finally
        {
            ((IAsyncDisposable)pipe).DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static string WatchStream(IicChannel channel, int size)
    {
        using var stream = channel.AsStream();
        stream.Write(new byte[size]);
        Console.WriteLine("connected");
        var buffer = new byte[64 * 1024];
        long received = 0;
        try
        {
            while (true)
            {
                var read = stream.Read(buffer);
                if (read == 0)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"ended clean after {received}");
                }
                received += read;
            }
        }
        catch (Exception e)
        {
            return Failed(received, e);
        }
    }

    private static string Failed(long received, Exception e)
        => string.Create(CultureInfo.InvariantCulture, $"failed after {received}: {e.GetType().Name} reset={(e is IicChannelClosedException { PeerReset: true } ? "true" : "false")}");
}
