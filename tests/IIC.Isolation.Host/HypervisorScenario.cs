using System.Globalization;
using IIC.Hardware;

namespace IIC.Isolation.Host;

/// <summary>
/// args: name dir allowedUids ("-" for the default policy, else comma-separated). Starts a hypervisor, prints
/// "ready PID UID" (as its own namespaces see them), logs to stderr, and runs until stdin closes or says "stop";
/// "counts" prints "partitions N grants M".
/// </summary>
internal static class HypervisorScenario
{
    public static int Run(string[] args)
    {
        var allowed = args[2] == "-"
            ? new HashSet<uint>()
            : args[2].Split(',').Select(u => uint.Parse(u, CultureInfo.InvariantCulture)).ToHashSet();
        var options = new HypervisorOptions
        {
            SocketDirectory = args[1],
            AllowedUids = allowed,
            Log = line => Console.Error.WriteLine(line),
        };
        using var hypervisor = Hypervisor.Start(args[0], options);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready {Environment.ProcessId} {IIC.Native.Credentials.EffectiveUserId}"));
        string? line;
        while ((line = Console.ReadLine()) is not null && line != "stop")
        {
            if (line == "counts")
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"partitions {hypervisor.PartitionCount} grants {hypervisor.GrantCount}"));
            }
        }
        Console.WriteLine("stopped");
        return 0;
    }
}
