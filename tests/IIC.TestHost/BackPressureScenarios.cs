using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>A sender that outruns a slow receiver: it must block on the full ring without burning its CPU.</summary>
internal static class BackPressureScenarios
{
    /// <summary>
    /// args: hypervisor socket-directory service messages size. Connects (4 KiB rings), prints "connected", sends
    /// [sequence:int32][sequence-derived bytes] messages, then prints "sent CPU_SECONDS WALL_SECONDS STALLS" (the
    /// CPU this process used while sending) and waits for stdin to close.
    /// </summary>
    [Scenario("room-sender")]
    private static int Sender(string[] args)
    {
        var count = int.Parse(args[3], CultureInfo.InvariantCulture);
        var size = int.Parse(args[4], CultureInfo.InvariantCulture);
        using var partition = Partition.Attach(args[0], "room-sender", args[1]);
        using var channel = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.Adaptive }, TimeSpan.FromSeconds(30));
        Console.WriteLine("connected");
        var message = new byte[size];
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var sequence = 0; sequence < count; sequence++)
        {
            BitConverter.TryWriteBytes(message, sequence);
            for (var i = 4; i < size; i++)
            {
                message[i] = (byte)(sequence + i);
            }
            channel.Send(message);
        }
        var wall = clock.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sent {cpu:0.0000} {wall:0.0000} {channel.GetStatistics().RingFullStalls}"));
        Console.In.ReadToEnd(); // the parent closes stdin once it has everything
        return 0;
    }
}
