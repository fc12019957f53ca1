namespace IIC.Hardware;

/// <summary>The shape of a new <see cref="SharedWindow"/>.</summary>
public sealed record WindowOptions
{
    /// <summary>Default ring capacity: 1 MiB per direction.</summary>
    public const int DefaultRingCapacity = 1 << 20;

    /// <summary>Data-area bytes of the ring side 0 writes (side 1 reads). A power of two.</summary>
    public int RingCapacity0 { get; init; } = DefaultRingCapacity;

    /// <summary>Data-area bytes of the ring side 1 writes (side 0 reads). A power of two.</summary>
    public int RingCapacity1 { get; init; } = DefaultRingCapacity;

    /// <summary>
    /// When set, side 0 receives through an external <see cref="InterruptGroup"/> (one page for many windows) and
    /// side 1's writer raises this vector there; otherwise side 0 sleeps on its own block inside the window.
    /// </summary>
    public int? GroupVector0 { get; init; }

    /// <summary>Like <see cref="GroupVector0"/>, for side 1.</summary>
    public int? GroupVector1 { get; init; }

    /// <summary>Both directions with the same capacity.</summary>
    public static WindowOptions WithCapacity(int capacity) => new() { RingCapacity0 = capacity, RingCapacity1 = capacity };
}
