using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// Children for the observability tests: a process with a known IICFast workload that then waits, so the test
/// can attach to it over EventPipe (counters, trace events) or run <c>iic stat</c> against it.
/// </summary>
internal static class ObservabilityScenarios
{
    private static readonly TimeSpan s_idleLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan s_demoLimit = TimeSpan.FromMinutes(30);

    /// <summary>
    /// args: service count size. Opens an in-process pair named <c>service</c>, sends <c>count</c> messages of
    /// <c>size</c> bytes from the first end to the second and receives them all, prints "ready", then obeys stdin:
    /// "close" disposes both ends (ChannelClosed events) and prints "closed"; "exit" or end of input exits.
    /// </summary>
    [Scenario("obs-workload")]
    private static int Workload(string[] args)
    {
        var service = args[0];
        var count = int.Parse(args[1], CultureInfo.InvariantCulture);
        var size = int.Parse(args[2], CultureInfo.InvariantCulture);
        var (first, second) = IicChannel.CreatePair(ChannelOptions.Default with { Name = service });
        var message = new byte[size];
        var buffer = new byte[size];
        for (var i = 0; i < count; i++)
        {
            first.Send(message);
            if (second.Receive(buffer) != size)
            {
                Console.Error.WriteLine($"message {i} has the wrong length");
                return 1;
            }
        }
        Console.WriteLine("ready");
        while (ReadCommand() is { } command)
        {
            switch (command)
            {
                case "close":
                    first.Dispose();
                    second.Dispose();
                    Console.WriteLine("closed");
                    break;
                case "exit":
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown command '{command}'");
                    return 1;
            }
        }
        return 0;
    }

    /// <summary>
    /// Every IIC-Transport event, once: prints "ready", and on "emit" raises each <see cref="IicEventSource"/> event
    /// with the values <see cref="EventArgument"/> gives (the EventPipe test expects exactly those), then prints "emitted".
    /// "exit" or end of input exits.
    /// </summary>
    [Scenario("obs-all-events")]
    private static int AllEvents(string[] args)
    {
        Console.WriteLine("ready");
        while (ReadCommand() is { } command && command != "exit")
        {
            foreach (var method in typeof(IicEventSource).GetMethods())
            {
                if (method.GetCustomAttributes(typeof(System.Diagnostics.Tracing.EventAttribute), false) is [System.Diagnostics.Tracing.EventAttribute attribute])
                {
                    var parameters = method.GetParameters();
                    method.Invoke(IicEventSource.Log, [.. parameters.Select((p, i) => EventArgument(method.Name, attribute.EventId, p.Name!, i, p.ParameterType))]);
                }
            }
            Console.WriteLine("emitted");
        }
        return 0;
    }

    /// <summary>The value of argument <paramref name="index"/> of event <paramref name="eventId"/>: distinct per event and field (the test computes the same).</summary>
    internal static object EventArgument(string eventName, int eventId, string name, int index, Type type)
        => type == typeof(string) ? $"{eventName}.{name}"
        : type == typeof(long) ? 5_000_000_000L + (eventId * 10) + index
        : (object)((eventId * 10) + index);

    /// <summary>
    /// args: hypervisor service. A client only: attaches a partition, connects one channel to <c>service</c> (with the
    /// default channel options, so the name comes from the grant), prints "ready" and waits for "exit" or end of input.
    /// </summary>
    [Scenario("obs-client")]
    private static int Client(string[] args)
    {
        using var partition = Partition.Attach(args[0], "obs-client");
        using var channel = IicChannel.Connect(partition, args[1]);
        Console.WriteLine("ready");
        while (ReadCommand() is { } command && command != "exit")
        {
        }
        return 0;
    }

    /// <summary>A .NET process that never touches IICFast: prints "ready" and waits for "exit" or end of input.</summary>
    [Scenario("obs-idle")]
    private static int Idle(string[] args)
    {
        Console.WriteLine("ready");
        while (ReadCommand() is { } command && command != "exit")
        {
        }
        return 0;
    }

    /// <summary>
    /// args: services (comma separated). A demo for capturing tool output: per service, a client thread sends a
    /// request every 200 µs to 2 ms and an echo thread answers, so spins, parks and wakes all happen. Runs until
    /// "exit" or end of input on stdin.
    /// </summary>
    [Scenario("obs-demo")]
    private static int Demo(string[] args)
    {
        using var stop = new CancellationTokenSource();
        var threads = new List<Thread>();
        foreach (var service in args[0].Split(','))
        {
            var (client, server) = IicChannel.CreatePair(ChannelOptions.Default with { Name = service });
            threads.Add(Start($"{service} echo", () => Echo(server, stop.Token)));
            threads.Add(Start($"{service} client", () => Client(client, service.Length, stop.Token)));
        }
        Console.WriteLine("ready");
        while (ReadCommand(s_demoLimit) is { } command && command != "exit")
        {
        }
        stop.Cancel();
        foreach (var thread in threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }
        return 0;
    }

    private static Thread Start(string name, Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true, Name = name };
        thread.Start();
        return thread;
    }

    private static void Echo(IicChannel channel, CancellationToken stop)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var length = channel.Receive(buffer, stop);
                channel.Send(buffer.AsSpan(0, length), stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Client(IicChannel channel, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        var message = new byte[256];
        var reply = new byte[4096];
        using var pause = new ManualResetEventSlim();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                channel.Send(message.AsSpan(0, random.Next(16, 256)), stop);
                channel.Receive(reply, stop);
                // Pacing of a demo load, not synchronisation: idle gaps make the echo side park and be woken.
                var gap = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * random.Next(200, 2000) / 1_000_000);
                while (Stopwatch.GetTimestamp() < gap && !stop.IsCancellationRequested)
                {
                    pause.Wait(1, stop);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One line from stdin, or null at its end or after <paramref name="limit"/> (default 2 min) without one (an abandoned child exits).</summary>
    private static string? ReadCommand(TimeSpan? limit = null)
    {
        var line = Task.Run(Console.In.ReadLine);
        return line.Wait(limit ?? s_idleLimit) ? line.Result?.Trim() : null;
    }
}
