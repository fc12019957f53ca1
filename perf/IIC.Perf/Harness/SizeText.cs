using System.Globalization;

namespace IIC.Perf.Harness;

/// <summary>Message sizes as people write them: 32, 4K, 4KiB, 1M, 1MiB.</summary>
internal static class SizeText
{
    public static string Format(int bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} B",
    };

    public static bool TryParse(string text, out int bytes)
    {
        var value = text.Trim().ToUpperInvariant();
        var multiplier = 1;
        foreach (var (suffix, factor) in new[] { ("KIB", 1 << 10), ("MIB", 1 << 20), ("KB", 1 << 10), ("MB", 1 << 20), ("K", 1 << 10), ("M", 1 << 20), ("B", 1) })
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal))
            {
                value = value[..^suffix.Length];
                multiplier = factor;
                break;
            }
        }
        bytes = 0;
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number * multiplier > int.MaxValue)
        {
            return false;
        }
        bytes = (int)(number * multiplier);
        return true;
    }
}
