using System.Reflection;

namespace IIC.TestHost;

/// <summary>Marks a static method <c>int Name(string[] args)</c> as a scenario the child process can run.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ScenarioAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>Finds the scenarios (static methods marked with <see cref="ScenarioAttribute"/>) in this assembly.</summary>
internal static class Scenarios
{
    private static readonly Dictionary<string, MethodInfo> s_table = typeof(Scenarios).Assembly.GetTypes()
        .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
        .Select(m => (Method: m, Attribute: m.GetCustomAttribute<ScenarioAttribute>()))
        .Where(x => x.Attribute is not null)
        .ToDictionary(x => x.Attribute!.Name, x => x.Method, StringComparer.Ordinal);

    public static IEnumerable<string> Names => s_table.Keys.Order(StringComparer.Ordinal);

    public static int Run(string name, string[] args)
    {
        if (!s_table.TryGetValue(name, out var method))
        {
            Console.Error.WriteLine($"unknown scenario '{name}'; known: {string.Join(", ", Names)}");
            return 64;
        }
        try
        {
            return (int)method.Invoke(null, [args])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            Console.Error.WriteLine($"scenario '{name}' failed: {e.InnerException}");
            return 70;
        }
    }

    [Scenario("echo-args")]
    private static int EchoArgs(string[] args)
    {
        Console.WriteLine(string.Join(' ', args));
        return 0;
    }
}
