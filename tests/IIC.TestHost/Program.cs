namespace IIC.TestHost;

/// <summary>Runs one named scenario in a child process; exit code 0 means the scenario's checks passed.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: IIC.TestHost <scenario> [args...]; scenarios: " + string.Join(", ", Scenarios.Names));
            return 64;
        }
        return Scenarios.Run(args[0], args.AsSpan(1).ToArray());
    }
}
