using System.Text.Json;
using System.Text.Json.Serialization;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>JSON for the child protocol and the results file: snake_case names, enums as strings, nulls left out.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ChildSpec))]
[JsonSerializable(typeof(ChildReport))]
[JsonSerializable(typeof(ResultsDocument))]
internal sealed partial class PerfJson : JsonSerializerContext
{
    private static PerfJson? s_indented;

    /// <summary>The results file, indented for people (made on first use: static initializers of the generated half run in no set order).</summary>
    public static PerfJson Indented => s_indented ??= new(new JsonSerializerOptions(Default.Options) { WriteIndented = true });
}
